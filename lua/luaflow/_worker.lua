-- SPDX-License-Identifier: MIT
--- luaflow._worker: runs one step in a worker process.
---
--- The host builds a task description (which step, its inputs' artifact maps, parameters,
--- the transitions the static graph expects), calls `run`, and receives the artifacts to
--- commit. Artifacts load lazily through `luaflow._host.load`; only what a step assigned, or
--- loaded and might have mutated, is encoded again.
local host = require('luaflow._host')
local luaflow = require('luaflow')

local M = {}

local IMMUTABLE = { ['nil'] = true, boolean = true, number = true, string = true }
local NIL = setmetatable({}, { __name = 'luaflow.nil' })

local function names_of(map)
  local names = {}
  for k in pairs(map) do
    names[#names + 1] = k
  end
  table.sort(names)
  return names
end

local function list_text(names, limit)
  limit = limit or 12
  if #names == 0 then
    return 'none'
  end
  local shown = {}
  for i = 1, math.min(#names, limit) do
    shown[i] = names[i]
  end
  local text = table.concat(shown, ', ')
  if #names > limit then
    text = text .. string.format(', ... (%d more)', #names - limit)
  end
  return text
end

--- A lazily loaded, read-only view of one input task of a join.
local function make_input(task, input, step_name)
  local cache = {}
  local view = {}
  return setmetatable(view, {
    __name = 'luaflow.Input',
    __index = function(_, k)
      local v = cache[k]
      if v ~= nil then
        return v ~= NIL and v or nil
      end
      local meta = input.artifacts[k]
      if not meta then
        error(string.format("step '%s': input '%s' has no artifact '%s' (it has: %s)",
          step_name, input.pathspec, tostring(k), list_text(names_of(input.artifacts))), 2)
      end
      v = host.load(meta.sha, k)
      cache[k] = v == nil and NIL or v
      return v
    end,
    __newindex = function(_, k)
      error(string.format("step '%s': inputs are read-only (tried to set '%s' on input '%s')",
        step_name, tostring(k), input.pathspec), 2)
    end,
    __tostring = function()
      return 'input ' .. input.pathspec
    end,
    __luaflow_input = input,
    __luaflow_task = task,
  })
end

local function input_record(inp)
  local mt = getmetatable(inp)
  return mt and mt.__luaflow_input
end

--- Runs the step described by `task` and returns what to commit:
--- { artifacts = { name = {sha=, type=, size=} }, next = {...}, foreach_count = n|nil }
function M.run(task)
  local flow = task.flow
  local step = flow._steps[task.step]
  local step_name = task.step
  local values = {} -- name -> value (NIL for stored nil) assigned or loaded in this task
  local assigned = {} -- name -> true when the step set it
  local loaded = {} -- name -> true when read from the store
  local inherited = task.inherited -- name -> meta {sha, type, size}
  local params = task.params -- artifact name -> meta
  local transitions -- what self:next recorded
  local foreach_count

  local self = {}
  local methods = {}

  local function lookup(k)
    local v = values[k]
    if v ~= nil then
      return true, v ~= NIL and v or nil
    end
    local meta = inherited[k]
    if meta then
      v = host.load(meta.sha, k)
      values[k] = v == nil and NIL or v
      loaded[k] = true
      return true, v
    end
    return false
  end

  --- True if the task has artifact `name` (assigned, inherited or a parameter).
  function methods.has(_, name)
    return values[name] ~= nil or inherited[name] ~= nil
  end

  --- Records the transition; it must agree with the graph found in the source.
  function methods.next(_, ...)
    if transitions then
      error(string.format("step '%s': self:next was already called", step_name), 2)
    end
    local args = table.pack(...)
    local targets, opts = {}, nil
    for i = 1, args.n do
      local a = args[i]
      if type(a) == 'table' and i == args.n then
        opts = a
      elseif type(a) == 'string' then
        targets[#targets + 1] = a
      else
        error(string.format("step '%s': self:next takes step names, got %s", step_name,
          type(a)), 2)
      end
    end
    local expect = task.expect_next
    local same = #targets == #expect
    for i = 1, #targets do
      same = same and targets[i] == expect[i]
    end
    local fvar = opts and opts.foreach
    if not same or fvar ~= task.expect_foreach then
      local function show(t, f)
        local q = {}
        for i, n in ipairs(t) do
          q[i] = string.format('%q', n)
        end
        if f then
          q[#q + 1] = string.format('{ foreach = %q }', f)
        end
        return 'self:next(' .. table.concat(q, ', ') .. ')'
      end
      error(string.format("step '%s': %s does not match the graph found in the source (%s)",
        step_name, show(targets, fvar), show(expect, task.expect_foreach)), 2)
    end
    if fvar then
      local ok, list = lookup(fvar)
      if not ok then
        error(string.format("step '%s': foreach over '%s', but there is no artifact '%s'",
          step_name, fvar, fvar), 2)
      end
      if type(list) ~= 'table' then
        error(string.format("step '%s': foreach over '%s' needs a list, got %s", step_name,
          fvar, type(list)), 2)
      end
      local n = #list
      for k in pairs(list) do
        if math.type(k) ~= 'integer' or k < 1 or k > n then
          error(string.format("step '%s': foreach over '%s' needs a list (keys 1..n), "
            .. 'found key %s', step_name, fvar, tostring(k)), 2)
        end
      end
      foreach_count = n
      -- The list is committed with the task so the foreach tasks can read their items.
      assigned[fvar] = true
    end
    transitions = targets
  end

  --- Copies into the join every artifact on which all inputs agree; fails on divergence.
  function methods.merge_artifacts(_, inputs, opts)
    if not task.is_join then
      error(string.format("step '%s': merge_artifacts is only available in a join step",
        step_name), 2)
    end
    if type(inputs) ~= 'table' or not input_record(inputs[1] or {}) then
      error(string.format("step '%s': merge_artifacts expects the join's inputs", step_name), 2)
    end
    local exclude = {}
    if opts ~= nil then
      if type(opts) ~= 'table' then
        error(string.format("step '%s': merge_artifacts options must be a table", step_name), 2)
      end
      for k, v in pairs(opts) do
        if k ~= 'exclude' then
          error(string.format("step '%s': merge_artifacts: unknown option '%s'", step_name,
            tostring(k)), 2)
        end
        if type(v) ~= 'table' then
          error(string.format("step '%s': merge_artifacts: exclude must be a list of names",
            step_name), 2)
        end
        for _, name in ipairs(v) do
          exclude[name] = true
        end
      end
    end
    local metas = {} -- name -> { sha -> first input pathspec }
    local order = {}
    for _, inp in ipairs(inputs) do
      local rec = input_record(inp)
      for name, meta in pairs(rec.artifacts) do
        if not params[name] and not exclude[name] and not assigned[name] then
          local m = metas[name]
          if not m then
            m = { shas = {}, count = 0, first = meta }
            metas[name] = m
            order[#order + 1] = name
          end
          if not m.shas[meta.sha] then
            m.shas[meta.sha] = rec.pathspec
            m.count = m.count + 1
          end
        end
      end
    end
    table.sort(order)
    local diverged = {}
    for _, name in ipairs(order) do
      local m = metas[name]
      if m.count == 1 then
        inherited[name] = m.first
        values[name] = nil
      else
        local where = {}
        for _, p in pairs(m.shas) do
          where[#where + 1] = p
        end
        table.sort(where)
        diverged[#diverged + 1] = string.format('%s (%s)', name, list_text(where, 4))
      end
    end
    if #diverged > 0 then
      error(string.format("step '%s': merge_artifacts: artifacts differ between inputs: %s; "
        .. 'assign them in the join before merging, or pass exclude = { ... }', step_name,
        table.concat(diverged, '; ')), 2)
    end
  end

  setmetatable(self, {
    __name = 'luaflow.Step',
    __index = function(_, k)
      local m = methods[k]
      if m then
        return m
      end
      if k == 'input' and task.foreach_input then
        return task.foreach_input()
      end
      if k == 'index' and task.foreach_index then
        return task.foreach_index
      end
      local ok, v = lookup(k)
      if ok then
        return v
      end
      local hint = task.is_join and '; a join sees only what it merges (see merge_artifacts)'
        or ''
      local avail = {}
      for name in pairs(inherited) do
        avail[name] = true
      end
      for name in pairs(values) do
        avail[name] = true
      end
      error(string.format("step '%s': no artifact '%s'%s (artifacts here: %s)%s", step_name,
        tostring(k), luaflow._suggest(tostring(k), avail), list_text(names_of(avail)), hint), 2)
    end,
    __newindex = function(_, k, v)
      if type(k) ~= 'string' or not k:match('^[%a_][%w_]*$') then
        error(string.format("step '%s': artifact names must be identifiers, got %s",
          step_name, tostring(k)), 2)
      end
      if params[k] then
        error(string.format("step '%s': cannot assign parameter '%s': parameters are "
          .. 'read-only', step_name, k), 2)
      end
      if methods[k] or luaflow._reserved_artifacts[k] or k:sub(1, 1) == '_' then
        error(string.format("step '%s': '%s' is reserved and cannot be an artifact name",
          step_name, k), 2)
      end
      values[k] = v == nil and NIL or v
      assigned[k] = true
    end,
    __tostring = function()
      return string.format('step %s (%s)', step_name, task.pathspec)
    end,
  })

  local args = { self }
  if task.is_join then
    local inputs = {}
    for i, rec in ipairs(task.inputs) do
      local inp = make_input(task, rec, step_name)
      inputs[i] = inp
      if task.inputs_by_name then
        inputs[rec.step] = inp
      end
    end
    args[2] = inputs
  end

  step.fn(table.unpack(args, 1, #args))

  if not task.is_end and not transitions then
    error(string.format("step '%s': finished without calling self:next(...)", step_name), 0)
  end
  -- With the catch option, the catch artifact exists on success too (nil), so a join can
  -- test it on every input.
  if task.catch_var and not assigned[task.catch_var] then
    values[task.catch_var] = NIL
    assigned[task.catch_var] = true
  end

  -- Encode everything first: if one value cannot be stored, nothing of the task is written.
  local out = {}
  local pending = {}
  for name, meta in pairs(inherited) do
    out[name] = meta
  end
  local function encode(name, v)
    local buf, err = host.encode(v)
    if not buf then
      error(string.format("step '%s': artifact '%s' cannot be stored: %s", step_name, name,
        err), 0)
    end
    pending[#pending + 1] = { name = name, buf = buf, type = host.typeof(v) }
  end
  for _, name in ipairs(names_of(values)) do
    local v = values[name]
    if v == NIL then
      v = nil
    end
    if assigned[name] then
      encode(name, v)
    elseif loaded[name] and not IMMUTABLE[type(v)] then
      -- Loaded tables may have been changed in place; content addressing makes an
      -- unchanged value cost only the hashing.
      encode(name, v)
    end
  end
  if task.dry then
    -- A try-out (the REPL's step()): nothing is stored; the new values travel back encoded.
    local changed = {}
    for _, p in ipairs(pending) do
      changed[p.name] = p.buf
      out[p.name] = nil
    end
    return { artifacts = out, changed = changed, next = transitions or {},
      foreach_count = foreach_count }
  end
  for _, p in ipairs(pending) do
    local sha, size = host.put(p.buf)
    out[p.name] = { sha = sha, type = p.type, size = size }
  end
  return { artifacts = out, next = transitions or {}, foreach_count = foreach_count }
end

--- Commits a failed task as succeeded, with the failure in artifact `var` (the `catch`
--- option): the inherited artifacts pass on and the step's transition is taken.
function M.catch(task, var, failure)
  if task.expect_foreach then
    error(string.format("step '%s': cannot catch a failure of a foreach split (the number "
      .. 'of items is unknown); move the work that can fail into the foreach step',
      task.step), 0)
  end
  local out = {}
  for name, meta in pairs(task.inherited) do
    out[name] = meta
  end
  local buf, err = host.encode(failure)
  if not buf then
    error(string.format("step '%s': cannot store the failure: %s", task.step, err), 0)
  end
  local sha, size = host.put(buf)
  out[var] = { sha = sha, type = 'table', size = size }
  return { artifacts = out, next = task.expect_next }
end

return M
