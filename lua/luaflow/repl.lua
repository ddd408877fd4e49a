-- SPDX-License-Identifier: MIT
--- luaflow.repl: what `luaflow repl` adds to a Lua prompt.
---
--- Globals: the client (Flow, Run, Step, Task, namespace, get_namespace, default_namespace,
--- flows), `luaflow`, `help()`, and with a flow file `run{...}`, `step(name, {from = ...})`
--- and `show()`. The host formats results with `show` and completes with `complete`.
local client = require('luaflow.client')

local M = {}

local session -- luaflow._session, set by setup

-- ---- Formatting ---------------------------------------------------------------------------

local MAX_DEPTH = 3 -- nested tables deeper than this print as {...}
local MAX_ITEMS = 10 -- array items shown before "... (N items)"
local MAX_KEYS = 30 -- keys shown before "... (N more)"
local MAX_STRING = 200 -- characters of a string shown
local WIDTH = 78

local function is_identifier(k)
  return type(k) == 'string' and k:match('^[%a_][%w_]*$') ~= nil
end

local ESCAPES = { ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r', ['"'] = '\\"',
  ['\\'] = '\\\\' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format('\\%03d', c:byte())
  end) .. '"'
end

local function format_string(s)
  if #s > MAX_STRING then
    return quote(s:sub(1, MAX_STRING)) .. string.format(' ... (%d bytes)', #s)
  end
  return quote(s)
end

local function format_number(n)
  if math.type(n) == 'integer' then
    return tostring(n)
  end
  if n ~= n then
    return 'nan'
  end
  if n == math.huge then
    return 'inf'
  elseif n == -math.huge then
    return '-inf'
  end
  local s = string.format('%.14g', n)
  if not s:find('[%.eEn]') then
    s = s .. '.0'
  end
  return s
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if ta == 'number' then
      return true
    elseif tb == 'number' then
      return false
    end
    return ta < tb
  end
  if ta == 'number' or ta == 'string' then
    return a < b
  end
  return tostring(a) < tostring(b)
end

local format

local function format_table(t, depth, seen, indent)
  if seen[t] then
    return '<cycle>'
  end
  if depth > MAX_DEPTH then
    return '{...}'
  end
  seen[t] = true
  local n = #t
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == 'integer' and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_order)
  local parts = {}
  local shown = n
  if n > MAX_ITEMS then
    shown = MAX_ITEMS
  end
  local inner = indent .. '  '
  for i = 1, shown do
    parts[#parts + 1] = format(t[i], depth + 1, seen, inner)
  end
  if shown < n then
    parts[#parts + 1] = string.format('... (%d items)', n)
  end
  for i, k in ipairs(keys) do
    if i > MAX_KEYS then
      parts[#parts + 1] = string.format('... (%d more)', #keys - MAX_KEYS)
      break
    end
    local ks = is_identifier(k) and k or ('[' .. format(k, MAX_DEPTH + 1, seen, inner) .. ']')
    parts[#parts + 1] = ks .. ' = ' .. format(t[k], depth + 1, seen, inner)
  end
  seen[t] = nil
  if #parts == 0 then
    return '{}'
  end
  local one = '{ ' .. table.concat(parts, ', ') .. ' }'
  if #one + #indent <= WIDTH and not one:find('\n') then
    return one
  end
  return '{\n' .. inner .. table.concat(parts, ',\n' .. inner) .. '\n' .. indent .. '}'
end

--- A readable rendering of a value: strings quoted and truncated, tables pretty-printed with
--- depth limits and long arrays summarized, objects with __tostring as they name themselves.
function format(v, depth, seen, indent)
  depth, seen, indent = depth or 1, seen or {}, indent or ''
  local tv = type(v)
  if tv == 'string' then
    return format_string(v)
  elseif tv == 'number' then
    return format_number(v)
  elseif tv == 'table' then
    local mt = getmetatable(v)
    if mt and mt.__tostring then
      return tostring(v)
    end
    return format_table(v, depth, seen, indent)
  end
  return tostring(v)
end
M.format = format

--- Formats the results of one evaluation, one per line; `_` becomes the first.
function M.show(...)
  local n = select('#', ...)
  local out = {}
  for i = 1, n do
    out[i] = format((select(i, ...)))
  end
  _G._ = (...)
  return table.concat(out, '\t')
end

-- ---- Completion ---------------------------------------------------------------------------

local KEYWORDS = { 'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function',
  'goto', 'if', 'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until',
  'while' }

-- Names a value answers to: its own keys, its metatable's __index table (recursively) and an
-- object's __complete list (history objects, whose fields are computed).
local function fields_of(v, methods_only)
  local names, seen = {}, {}
  local function add(k, val)
    if type(k) == 'string' and not seen[k] and is_identifier(k) then
      if not methods_only or type(val) == 'function' or val == nil then
        seen[k] = true
        names[#names + 1] = k
      end
    end
  end
  local function walk(t, hops)
    if type(t) == 'table' and hops < 8 then
      for k, val in next, t do
        add(k, val)
      end
      local mt = getmetatable(t)
      if type(mt) == 'table' then
        walk(rawget(mt, '__index'), hops + 1)
      end
    end
  end
  if type(v) == 'table' then
    walk(v, 0)
  elseif type(v) == 'string' then
    walk(string, 0)
  end
  local mt = getmetatable(v)
  if type(mt) == 'table' then
    local c = rawget(mt, '__complete')
    if type(c) == 'function' then
      local ok, list = pcall(c, v)
      if ok and type(list) == 'table' then
        for _, k in ipairs(list) do
          add(k, nil)
        end
      end
    end
    if type(v) ~= 'table' and type(rawget(mt, '__index')) == 'table' then
      walk(rawget(mt, '__index'), 1)
    end
  end
  return names
end

-- Resolves "a.b.c" (or "a:b" up to the last part) without raising.
local function resolve(path)
  local v = _G
  for part in path:gmatch('[^%.:]+') do
    if type(v) ~= 'table' and type(v) ~= 'userdata' and type(v) ~= 'string' then
      return nil
    end
    local ok, nv = pcall(function()
      return v[part]
    end)
    if not ok then
      return nil
    end
    v = nv
  end
  return v
end

local function matching(list, prefix, out)
  table.sort(list)
  local last
  for _, c in ipairs(list) do
    if c ~= last and c:sub(1, #prefix) == prefix then
      out[#out + 1] = c
    end
    last = c
  end
  return out
end

-- Pathspec candidates for the text inside a string literal: flows, runs, steps, tasks.
local function complete_pathspec(text)
  local parts = {}
  for p in (text .. '\0'):gmatch('([^/]*)/') do
    parts[#parts + 1] = p
  end
  local partial = text:match('([^/]*)$')
  local base = #parts > 0 and (table.concat(parts, '/') .. '/') or ''
  local names = {}
  local ok = pcall(function()
    if #parts == 0 then
      names = client.flows()
    elseif #parts == 1 then
      local saved = client.get_namespace()
      for _, r in ipairs(client.Flow(parts[1]):runs({ limit = 100 })) do
        names[#names + 1] = r.id
      end
      client.namespace(saved)
    elseif #parts == 2 then
      local run = client.Run(parts[1] .. '/' .. parts[2])
      for _, s in ipairs(run and run:steps() or {}) do
        names[#names + 1] = s.name
      end
    elseif #parts == 3 then
      local step = client.Step(table.concat(parts, '/'))
      for _, t in ipairs(step and step:tasks() or {}) do
        names[#names + 1] = t.id
      end
    end
  end)
  if not ok then
    return {}
  end
  local out = {}
  for _, c in ipairs(matching(names, partial, {})) do
    out[#out + 1] = base .. c
  end
  return out
end

-- Is position `pos` of `line` inside a string literal? Returns the literal's start (after
-- the quote) if so.
local function open_string(line)
  local quote, start
  local i = 1
  while i <= #line do
    local c = line:sub(i, i)
    if quote then
      if c == '\\' then
        i = i + 1
      elseif c == quote then
        quote = nil
      end
    elseif c == '"' or c == "'" then
      quote, start = c, i + 1
    elseif c == '-' and line:sub(i, i + 1) == '--' then
      return nil
    end
    i = i + 1
  end
  return quote and start or nil
end

--- Candidates for the input `line` with the cursor at byte `cursor` (0-based count of bytes
--- before it): returns the 0-based start of the text they replace, and the list.
function M.complete(line, cursor)
  local before = line:sub(1, cursor)
  local sstart = open_string(before)
  if sstart then
    local text = before:sub(sstart)
    return sstart - 1, complete_pathspec(text)
  end
  local expr = before:match('[%a_][%w_%.:]*$') or ''
  if expr == '' then
    if before:match('[%.:]$') then
      return cursor, {}
    end
    return cursor, {}
  end
  local head, sep, partial = expr:match('^(.*)([%.:])([%w_]*)$')
  local out = {}
  if head then
    local v = resolve(head)
    if v == nil then
      return cursor, {}
    end
    local list = fields_of(v, sep == ':')
    for _, c in ipairs(matching(list, partial, {})) do
      out[#out + 1] = head .. sep .. c
    end
  else
    local list = fields_of(_G)
    for _, k in ipairs(KEYWORDS) do
      list[#list + 1] = k
    end
    matching(list, expr, out)
  end
  return cursor - #expr, out
end

-- ---- run{} and step() ---------------------------------------------------------------------

local function suggest(name, list)
  local set = {}
  for _, n in ipairs(list) do
    set[n] = true
  end
  return require('luaflow')._suggest(name, set)
end

local function param_text(name, v)
  local t = type(v)
  if t == 'string' then
    return v
  elseif t == 'number' or t == 'boolean' then
    return tostring(v)
  end
  error(string.format("run: parameter '%s' must be a string, number or boolean (for a json "
    .. 'parameter pass its JSON text), got %s', name, t), 3)
end

--- Runs the flow file as it is now, with parameters: `run{ alpha = 0.5 }`. Options go under
--- `_`: `run{ alpha = 0.5, _ = { tags = {'x'}, with = {'retry'}, max_workers = 4 } }`.
--- Returns the Run (also when a task failed: check `.successful`).
local function run(args)
  args = args or {}
  if type(args) ~= 'table' then
    error('run: expected a table of parameters, as in run{ alpha = 0.5 }', 2)
  end
  local g = session.graph()
  local known = {}
  for _, p in ipairs(g.params) do
    known[p] = true
  end
  local params = {}
  local names = {}
  for k in pairs(args) do
    if k ~= '_' then
      if type(k) ~= 'string' then
        error('run: parameter names are strings, got ' .. tostring(k), 2)
      end
      local pname = k:gsub('_', '-')
      if not known[k] and not known[pname] then
        error(string.format("run: flow %s has no parameter '%s'%s", g.name, k,
          suggest(k, g.params)), 2)
      end
      names[#names + 1] = k
    end
  end
  table.sort(names)
  for _, k in ipairs(names) do
    params[#params + 1] = known[k] and k or k:gsub('_', '-')
    params[#params + 1] = param_text(k, args[k])
  end
  local o = args._ or {}
  local ok, pathspec, msg = session.run(params, o.tags, o.with, o.max_workers)
  if not pathspec then
    error(msg, 2)
  end
  local r = client.Run(pathspec)
  if not ok then
    io.stderr:write(string.format('run %s failed: %s\n', pathspec, msg))
  end
  return r
end

local function split_path(p)
  local parts = {}
  for s in tostring(p):gmatch('[^/]+') do
    parts[#parts + 1] = s
  end
  return parts
end

-- The tasks of `step` in run `r`, as "step/task" strings.
local function tasks_of(r, step)
  local s = r:step(step)
  local out = {}
  for i, t in ipairs(s and s:tasks() or {}) do
    out[i] = t
  end
  return out
end

-- The branch index of `step` under the static split `split`: the position in the split's
-- next of the branch the step belongs to.
local function branch_of(g, split, step)
  local cur = step
  for _ = 1, 10000 do
    local st = g.steps[cur]
    for _, p in ipairs(st.prev) do
      if p == split then
        for i, n in ipairs(g.steps[split].next) do
          if n == cur then
            return i
          end
        end
      end
    end
    if not st.prev[1] then
      break
    end
    cur = st.prev[1]
  end
  return 0
end

local Result = {}
Result.__name = 'luaflow.Tried'

local function make_result(res, flow_name)
  local arts = {}
  for k in pairs(res.values) do
    arts[#arts + 1] = k
  end
  for k in pairs(res.nils) do
    arts[#arts + 1] = k
  end
  for k in pairs(res.passed) do
    arts[#arts + 1] = k
  end
  table.sort(arts)
  local cache = {}
  local data = setmetatable({}, {
    __index = function(_, k)
      if res.values[k] ~= nil then
        return res.values[k]
      end
      local meta = res.passed[k]
      if meta then
        if cache[k] == nil then
          cache[k] = { require('luaflow._index').open(require('luaflow._host').root())
            :load(flow_name, meta.sha) }
        end
        return cache[k][1]
      end
      return nil
    end,
    __complete = function()
      return arts
    end,
    __pairs = function(t)
      local i = 0
      return function()
        i = i + 1
        local k = arts[i]
        if k then
          return k, t[k]
        end
      end
    end,
  })
  return setmetatable({ pathspec = res.pathspec, next = res.next, data = data,
    artifacts = arts, foreach_count = res.foreach_count, changed = res.values }, Result)
end

Result.__index = function(r, k)
  return rawget(r, 'data')[k]
end
Result.__complete = function(r)
  local names = { 'data', 'next', 'artifacts', 'pathspec', 'foreach_count' }
  for _, a in ipairs(r.artifacts) do
    names[#names + 1] = a
  end
  return names
end
Result.__tostring = function(r)
  local changed = {}
  for k in pairs(r.changed) do
    changed[#changed + 1] = k
  end
  table.sort(changed)
  return string.format('Tried(%s) next: %s; set: %s; artifacts: %s', r.pathspec,
    #r.next > 0 and table.concat(r.next, ', ') or '(end)',
    #changed > 0 and table.concat(changed, ', ') or 'nothing',
    #r.artifacts > 0 and table.concat(r.artifacts, ', ') or 'none')
end

--- Runs one step of the flow file, as it is now, in this process against the artifacts of a
--- past run, storing nothing: `step('train', { from = 'Flow/12/start/1' })`. `from` is a
--- task, a list of tasks (a join's inputs), a step (all its tasks), or a run (the step's
--- parents in that run); without it, the flow's latest run in the namespace. `index` picks
--- the item of a foreach (default 1). Returns the result: `r.model`, `r.data`, `r.next`.
local function step(name, opts)
  if type(name) ~= 'string' then
    error("step: expected a step name, as in step('train', { from = 'Flow/12/start/1' })", 2)
  end
  opts = opts or {}
  if type(opts) ~= 'table' then
    error('step: options must be a table', 2)
  end
  local g = session.graph()
  local st = g.steps[name]
  if not st then
    error(string.format("step: flow %s has no step '%s'%s", g.name, name,
      suggest(name, g.order)), 2)
  end
  local from = opts.from
  if from == nil then
    local ok, latest = pcall(function()
      return client.Flow(g.name).latest_run
    end)
    if not ok or not latest then
      error(string.format('step: flow %s has no run in namespace %s to take inputs from; '
        .. 'run{} it first or pass from = "%s/RUN"', g.name, tostring(client.get_namespace()),
        g.name), 2)
    end
    from = latest.pathspec
  end
  local list = type(from) == 'table' and from or { from }
  local run_id
  local inputs = {}
  local depth
  for _, p in ipairs(list) do
    local parts = split_path(p)
    if parts[1] ~= g.name then
      error(string.format("step: '%s' is not a pathspec of flow %s", tostring(p), g.name), 2)
    end
    if #parts < 2 or #parts > 4 then
      error(string.format("step: '%s' is not a run, step or task pathspec", tostring(p)), 2)
    end
    if run_id and parts[2] ~= run_id then
      error('step: every input must come from the same run', 2)
    end
    run_id = parts[2]
    depth = depth and math.max(depth, #parts) or #parts
    local r, err = client.Run(parts[1] .. '/' .. parts[2])
    if not r then
      error('step: ' .. err, 2)
    end
    if #parts == 4 then
      local t, terr = client.Task(p)
      if not t then
        error('step: ' .. terr, 2)
      end
      inputs[#inputs + 1] = t
    elseif #parts == 3 then
      local ts = tasks_of(r, parts[3])
      if #ts == 0 then
        error(string.format("step: no tasks in '%s'", p), 2)
      end
      for _, t in ipairs(ts) do
        inputs[#inputs + 1] = t
      end
    else
      -- A run: the step's parents in it.
      if name ~= 'start' then
        local parents = {}
        for _, pname in ipairs(st.prev) do
          parents[#parents + 1] = pname
        end
        if st.split and not g.steps[st.split].foreach then
          table.sort(parents, function(a, b)
            return branch_of(g, st.split, a) < branch_of(g, st.split, b)
          end)
        end
        for _, pname in ipairs(parents) do
          local ts = tasks_of(r, pname)
          if #ts == 0 then
            error(string.format("step: run %s has no task of step '%s', the input of '%s'",
              r.pathspec, pname, name), 2)
          end
          for _, t in ipairs(ts) do
            inputs[#inputs + 1] = t
          end
        end
      end
    end
  end
  for _, t in ipairs(inputs) do
    if not t.successful then
      error(string.format("step: input '%s' did not succeed", t.pathspec), 2)
    end
  end
  if name == 'start' then
    inputs = {}
  elseif not st.join and #inputs ~= 1 then
    local names = {}
    for i, t in ipairs(inputs) do
      names[i] = t.pathspec
      if i == 5 then
        names[i] = '...'
        break
      end
    end
    error(string.format("step: '%s' takes one input task, and %s gives %d (%s); pass one "
      .. 'task as from', name, tostring(from), #inputs, table.concat(names, ', ')), 2)
  elseif st.join and #inputs == 0 then
    error(string.format("step: join '%s' needs its input tasks", name), 2)
  end
  local split = 0
  if #inputs == 1 and not st.join then
    local parent = g.steps[inputs[1].step_name]
    if parent and parent.foreach then
      split = opts.index or 1
      local items = inputs[1].data[parent.foreach]
      if math.type(split) ~= 'integer' or type(items) ~= 'table' or split < 1
        or split > #items then
        error(string.format("step: index must be an integer in 1..%d (the items of '%s' in %s)",
          type(items) == 'table' and #items or 0, parent.foreach, inputs[1].pathspec), 2)
      end
    end
  end
  local spec = {}
  for i, t in ipairs(inputs) do
    spec[i] = t.step_name .. '/' .. t.id
  end
  local res = session.step(name, run_id, #spec > 0 and table.concat(spec, ',') or nil, split)
  return make_result(res, g.name)
end

--- Prints the flow's graph, as `luaflow show` does.
local function show()
  io.write(session.describe())
end

local HELP = [[
luaflow repl: Lua 5.4 with the history of your runs.
  Flow('Name').latest_run            a flow's newest run (also latest_successful_run)
  Run('Flow/12'), Step(...), Task(...) objects by pathspec; run['train'].task.data.model
  flows()                              flows with runs; namespace(nil) sees everyone's runs
With a flow file:
  run{ param = value }                 run the file as it is now; returns the Run
  step('train', { from = 'Flow/12/start/1' })
                                       try one step in this process; nothing is stored
  show()                               the flow's graph
Keys: Tab completes names and "pathspecs, Up/Down walk the history, Ctrl-C cancels the
line (or stops running code), Ctrl-D on an empty line quits.
]]

--- Installs the REPL's globals.
function M.setup()
  session = require('luaflow._session')
  local G = _G
  G.luaflow = require('luaflow')
  G.client = client
  for _, k in ipairs({ 'Flow', 'Run', 'Step', 'Task', 'namespace', 'get_namespace',
    'default_namespace', 'flows' }) do
    G[k] = client[k]
  end
  G.help = function()
    io.write(HELP)
  end
  if session.flow_name() then
    G.run = run
    G.step = step
    G.show = show
    G.flow = client.Flow(session.flow_name())
  end
end

return M
