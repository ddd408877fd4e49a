-- SPDX-License-Identifier: MIT
--- luaflow: the flow DSL (flow, param, include_file, step) and task-time helpers.
---
--- A flow file declares a flow and returns it; declaring runs no step. The host reads the
--- declarations back through `flow:_describe()` and finds each step's transitions statically
--- from the source.
local M = {}

local IDENT = '^[%a_][%w_]*$'
local OPTION_NAME = '^[%a][%w_%-]*$'

--- Names a parameter cannot take because `luaflow run` already uses them as options.
local RESERVED_OPTIONS = {
  ['max-workers'] = true,
  ['max-num-splits'] = true,
  ['with'] = true,
  ['tag'] = true,
  ['run-id-file'] = true,
  ['datastore'] = true,
  ['datastore-root'] = true,
  ['help'] = true,
  ['origin-run-id'] = true,
  ['namespace'] = true,
}

--- Artifact names the step context reserves.
local RESERVED_ARTIFACTS = {
  next = true,
  merge_artifacts = true,
  input = true,
  index = true,
  has = true,
  name = true,
}

local PARAM_TYPES = { string = true, integer = true, number = true, boolean = true, json = true }

local Flow = {}
Flow.__index = Flow
Flow.__name = 'luaflow.Flow'

--- Where the caller of a DSL function is, as "file:line".
local function caller_site(level)
  local info = debug.getinfo(level + 1, 'Sl')
  if not info then
    return '?'
  end
  local src = info.source
  if src:sub(1, 1) == '@' or src:sub(1, 1) == '=' then
    src = src:sub(2)
  end
  return string.format('%s:%d', src, info.currentline or 0)
end

local function fail(level, fmt, ...)
  error(caller_site(level + 1) .. ': ' .. string.format(fmt, ...), 0)
end

--- Levenshtein distance, for "did you mean" hints.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do
    prev[j] = j
  end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(word, candidates)
  local best, bestd
  -- Longer words tolerate more typos: 'retires' is three edits from 'retry'.
  local limit = math.max(2, #word // 2)
  for name in pairs(candidates) do
    local d = distance(word, name)
    if d <= limit and d < #name and (not bestd or d < bestd or (d == bestd and name < best)) then
      best, bestd = name, d
    end
  end
  return best and string.format(" (did you mean '%s'?)", best) or ''
end

--- Checks an option table against a schema { key = checker }. A checker returns nil when the
--- value is fine, or a message. Unknown keys are rejected by name.
local function check_options(level, what, opts, schema)
  if opts == nil then
    return
  end
  if type(opts) ~= 'table' then
    fail(level + 1, '%s: options must be a table, got %s', what, type(opts))
  end
  for k, v in pairs(opts) do
    if type(k) ~= 'string' then
      fail(level + 1, '%s: option keys must be names, got %s', what, tostring(k))
    end
    local checker = schema[k]
    if not checker then
      fail(level + 1, "%s: unknown option '%s'%s", what, k, suggest(k, schema))
    end
    local msg = checker(v)
    if msg then
      fail(level + 1, "%s: option '%s' %s", what, k, msg)
    end
  end
end

local function is_type(t)
  return function(v)
    if type(v) ~= t then
      return string.format('must be a %s, got %s', t, type(v))
    end
  end
end

local function show(v)
  return type(v) == 'string' and string.format('%q', v) or tostring(v)
end

local function nonneg_int(v)
  if math.type(v) ~= 'integer' or v < 0 then
    return 'must be a non-negative integer, got ' .. show(v)
  end
end

local function positive_number(v)
  if type(v) ~= 'number' or v ~= v or v <= 0 then
    return 'must be a positive number, got ' .. tostring(v)
  end
end

local function sub_table(schema)
  return function(v)
    if type(v) ~= 'table' then
      return 'must be a table, got ' .. type(v)
    end
    for k, x in pairs(v) do
      local checker = type(k) == 'string' and schema[k]
      if not checker then
        return string.format("has unknown key '%s'%s", tostring(k), suggest(tostring(k), schema))
      end
      local msg = checker(x)
      if msg then
        return string.format("key '%s' %s", k, msg)
      end
    end
  end
end

local function string_map(v)
  if type(v) ~= 'table' then
    return 'must be a table of name = "value", got ' .. type(v)
  end
  for k, x in pairs(v) do
    if type(k) ~= 'string' or not k:match('^[%a_][%w_]*$') then
      return 'has an invalid variable name ' .. tostring(k)
    end
    if type(x) ~= 'string' and type(x) ~= 'number' and type(x) ~= 'boolean' then
      return string.format("value of '%s' must be a string, got %s", k, type(x))
    end
  end
end

local STEP_OPTIONS = {
  retry = function(v)
    if type(v) == 'table' then
      return sub_table({ times = nonneg_int, minutes_between_retries = positive_number })(v)
    end
    return nonneg_int(v)
  end,
  catch = function(v)
    if type(v) ~= 'string' or not v:match(IDENT) then
      return 'must be an artifact name, got ' .. tostring(v)
    end
  end,
  timeout = function(v)
    if type(v) == 'number' then
      return positive_number(v)
    end
    if type(v) ~= 'table' then
      return 'must be a number of seconds or a table like { minutes = 10 }, got ' .. show(v)
    end
    local msg = sub_table({ seconds = positive_number, minutes = positive_number,
      hours = positive_number })(v)
    if msg then
      return msg
    end
    if next(v) == nil then
      return 'needs seconds, minutes or hours'
    end
  end,
  resources = sub_table({ cpu = positive_number, memory = positive_number, gpu = nonneg_int,
    disk = positive_number }),
  environment = sub_table({ vars = string_map }),
  batch = sub_table({ queue = is_type('string'), image = is_type('string'),
    cpu = positive_number, memory = positive_number, gpu = nonneg_int,
    iam_role = is_type('string'), job_definition = is_type('string') }),
  slurm = sub_table({ partition = is_type('string'), account = is_type('string'),
    cpu = positive_number, memory = positive_number, gpu = nonneg_int,
    time = is_type('string') }),
}
M._step_options = STEP_OPTIONS

--- Creates a flow. One flow per file; the file returns it.
---@param name string the flow's name, an identifier (by convention ending in "Flow")
---@param opts? { doc?: string }
---@return table flow
function M.flow(name, opts)
  if type(name) ~= 'string' or not name:match(IDENT) then
    fail(2, 'luaflow.flow: the flow name must be an identifier, got %s', tostring(name))
  end
  check_options(2, 'flow ' .. name, opts, { doc = is_type('string') })
  if M._declared then
    fail(2, "luaflow.flow: one flow per file: flow '%s' was already declared at %s",
      M._declared.name, M._declared._site)
  end
  local flow = setmetatable({
    name = name,
    doc = opts and opts.doc or nil,
    _steps = {},
    _step_list = {},
    _params = {},
    _param_list = {},
    _site = caller_site(2),
  }, Flow)
  M._declared = flow
  return flow
end

--- True if `v` is a flow made by luaflow.flow.
function M._is_flow(v)
  return getmetatable(v) == Flow
end

local function add_param(self, level, kind, artifact, opts)
  local what = kind == 'file' and 'include_file' or 'param'
  if type(artifact) ~= 'string' or not artifact:match(IDENT) then
    fail(level + 1, 'flow:%s: the artifact name must be an identifier, got %s', what,
      tostring(artifact))
  end
  if RESERVED_ARTIFACTS[artifact] or artifact:sub(1, 1) == '_' then
    fail(level + 1, "flow:%s: '%s' is reserved; choose another artifact name", what, artifact)
  end
  opts = opts or {}
  local schema = kind == 'file'
      and { name = is_type('string'), help = is_type('string'), is_text = is_type('boolean'),
        required = is_type('boolean'), default = is_type('string') }
    or {
      name = is_type('string'),
      help = is_type('string'),
      required = is_type('boolean'),
      type = function(v)
        if not PARAM_TYPES[v] then
          return "must be one of 'string', 'integer', 'number', 'boolean', 'json', got "
            .. tostring(v)
        end
      end,
      default = function(v)
        local t = type(v)
        if t ~= 'string' and t ~= 'number' and t ~= 'boolean' and t ~= 'table' then
          return 'must be a string, number, boolean or table, got ' .. t
        end
      end,
    }
  check_options(level + 1, string.format("flow:%s '%s'", what, artifact), opts, schema)
  local name = opts.name or artifact
  if not name:match(OPTION_NAME) then
    fail(level + 1, "flow:%s '%s': the name '%s' cannot be a command-line option", what,
      artifact, name)
  end
  if RESERVED_OPTIONS[name] then
    fail(level + 1, "flow:%s '%s': the name '%s' is a luaflow run option; choose another",
      what, artifact, name)
  end
  for _, p in ipairs(self._param_list) do
    if p.artifact == artifact then
      fail(level + 1, "flow:%s: artifact '%s' is already a parameter", what, artifact)
    end
    if p.name == name then
      fail(level + 1, "flow:%s: a parameter is already named '%s'", what, name)
    end
  end
  local ptype = opts.type
  if kind == 'file' then
    ptype = 'file'
  elseif not ptype then
    local d = opts.default
    if math.type(d) == 'integer' then
      ptype = 'integer'
    elseif math.type(d) == 'float' then
      ptype = 'number'
    elseif type(d) == 'boolean' then
      ptype = 'boolean'
    elseif type(d) == 'table' then
      ptype = 'json'
    else
      ptype = 'string'
    end
  end
  local default = opts.default
  if default ~= nil and kind ~= 'file' then
    local ok = (ptype == 'string' and type(default) == 'string')
      or (ptype == 'integer' and math.type(default) == 'integer')
      or (ptype == 'number' and type(default) == 'number')
      or (ptype == 'boolean' and type(default) == 'boolean')
      or (ptype == 'json' and (type(default) == 'table' or type(default) == 'string'))
    if not ok then
      fail(level + 1, "flow:param '%s': default %s does not match type '%s'", artifact,
        tostring(default), ptype)
    end
  end
  local p = {
    artifact = artifact,
    name = name,
    help = opts.help,
    required = opts.required or false,
    type = ptype,
    default = default,
    is_text = kind == 'file' and (opts.is_text ~= false) or nil,
    site = caller_site(level + 1),
  }
  self._params[artifact] = p
  self._param_list[#self._param_list + 1] = p
  return self
end

--- Declares a parameter: a read-only artifact set from the command line
--- (`--name value`), else `LUAFLOW_RUN_<NAME>`, else the default.
---@param artifact string
---@param opts? { name?: string, help?: string, default?: any, required?: boolean, type?: string }
function Flow:param(artifact, opts)
  add_param(self, 2, 'param', artifact, opts) -- not a tail call: the caller's line is needed
  return self
end

--- Declares a file parameter: the file is read at the start of the run and stored as an
--- artifact (a string), so the run keeps a snapshot of it.
---@param artifact string
---@param opts? { name?: string, help?: string, is_text?: boolean, required?: boolean, default?: string }
function Flow:include_file(artifact, opts)
  add_param(self, 2, 'file', artifact, opts) -- not a tail call: the caller's line is needed
  return self
end

--- Declares a step. The function takes `self` (and `inputs` for a join) and ends with
--- `self:next(...)`, except the `end` step.
---@param name string
---@param opts_or_fn table|function options, or the step function
---@param fn? function
function Flow:step(name, opts_or_fn, fn)
  local opts = opts_or_fn
  if fn == nil then
    fn, opts = opts_or_fn, nil
  end
  if type(name) ~= 'string' or not name:match(IDENT) then
    fail(2, 'flow:step: the step name must be an identifier, got %s', tostring(name))
  end
  if type(fn) ~= 'function' then
    fail(2, "step '%s': expected a function(self) as the last argument, got %s", name, type(fn))
  end
  if self._steps[name] then
    fail(2, "step '%s': a step of that name is already declared at %s; rename one of them",
      name, self._steps[name].site)
  end
  if name:sub(1, 1) == '_' then
    fail(2, "step '%s': step names starting with '_' are reserved", name)
  end
  check_options(2, string.format("step '%s'", name), opts, STEP_OPTIONS)
  local info = debug.getinfo(fn, 'Su')
  if info.what ~= 'Lua' then
    fail(2, "step '%s': the step function must be a Lua function", name)
  end
  if info.isvararg or info.nparams < 1 or info.nparams > 2 then
    fail(2, "step '%s': a step function takes (self) or, for a join, (self, inputs)", name)
  end
  local def = debug.getinfo(2, 'Sl')
  local step = {
    name = name,
    fn = fn,
    opts = opts or {},
    line = def.currentline,
    source = def.source,
    fn_source = info.source,
    fn_line = info.linedefined,
    fn_lastline = info.lastlinedefined,
    nparams = info.nparams,
    self_name = debug.getlocal(fn, 1),
    site = caller_site(2),
  }
  self._steps[name] = step
  self._step_list[#self._step_list + 1] = step
  return self
end

--- Plain description of the flow for the host (no functions).
function Flow:_describe()
  local steps = {}
  for i, s in ipairs(self._step_list) do
    steps[i] = {
      name = s.name,
      line = s.line,
      source = s.source,
      fn_source = s.fn_source,
      fn_line = s.fn_line,
      fn_lastline = s.fn_lastline,
      nparams = s.nparams,
      self_name = s.self_name,
      has_options = next(s.opts) ~= nil,
    }
  end
  return { name = self.name, doc = self.doc, steps = steps, params = self._param_list }
end

local function fmt_value(v)
  if type(v) == 'table' then
    local parts = {}
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = tostring(k) .. '=' .. fmt_value(v[k])
    end
    return '{' .. table.concat(parts, ',') .. '}'
  end
  return tostring(v)
end

--- The options of a step, normalised for the host (scheduler and worker):
--- { retries, retry_delay (s), timeout (s, 0 = none), catch, cpu, memory (MB), gpu, env }.
function Flow:_step_config(name)
  local o = self._steps[name].opts
  local c = { retries = 0, retry_delay = 0, timeout = 0, catch = o.catch, env = {} }
  if type(o.retry) == 'table' then
    c.retries = o.retry.times or 3
    c.retry_delay = (o.retry.minutes_between_retries or 0) * 60
  elseif o.retry then
    c.retries = o.retry
  end
  if type(o.timeout) == 'number' then
    c.timeout = o.timeout
  elseif type(o.timeout) == 'table' then
    c.timeout = (o.timeout.seconds or 0) + (o.timeout.minutes or 0) * 60
      + (o.timeout.hours or 0) * 3600
  end
  local r = o.resources or {}
  c.cpu, c.memory, c.gpu = r.cpu or 0, r.memory or 0, r.gpu or 0
  if o.environment and o.environment.vars then
    for k, v in pairs(o.environment.vars) do
      c.env[#c.env + 1] = k .. '=' .. tostring(v)
    end
    table.sort(c.env)
  end
  return c
end

--- Applies `--with` options ("retry", "timeout:minutes=5", "resources:cpu=2,memory=500",
--- "catch:var=failure") to every step that does not set that option itself. Raises with a
--- message naming the spec on errors.
function Flow:_apply_with(spec)
  local name, rest = spec:match('^([%a_][%w_]*)(.*)$')
  if not name then
    error(string.format("--with %s: expected OPTION or OPTION:key=value,...", spec), 0)
  end
  if not STEP_OPTIONS[name] then
    error(string.format("--with %s: unknown step option '%s'%s", spec, name,
      suggest(name, STEP_OPTIONS)), 0)
  end
  if name == 'environment' then
    error(string.format('--with %s: set environment variables in the flow file or the '
      .. 'shell', spec), 0)
  end
  local value
  if rest == '' then
    if name == 'retry' then
      value = 3
    else
      error(string.format("--with %s: option '%s' needs values, like %s:key=value", spec,
        name, name), 0)
    end
  else
    if rest:sub(1, 1) ~= ':' then
      error(string.format("--with %s: expected OPTION or OPTION:key=value,...", spec), 0)
    end
    value = {}
    for pair in (rest:sub(2) .. ','):gmatch('([^,]*),') do
      local k, v = pair:match('^([%a_][%w_]*)=(.+)$')
      if not k then
        error(string.format("--with %s: '%s' is not key=value", spec, pair), 0)
      end
      value[k] = math.tointeger(tonumber(v)) or tonumber(v) or v
    end
    if name == 'catch' then
      if value.var == nil or next(value, next(value)) ~= nil then
        error(string.format('--with %s: catch takes var=NAME', spec), 0)
      end
      value = value.var
    end
  end
  local msg = STEP_OPTIONS[name](value)
  if msg then
    error(string.format("--with %s: option '%s' %s", spec, name, msg), 0)
  end
  for _, step in ipairs(self._step_list) do
    if step.opts[name] == nil then
      step.opts[name] = value
    end
  end
end

--- One-line summary of a step's options for `luaflow show`, or nil.
function Flow:_options_text(name)
  local s = self._steps[name]
  if not s or next(s.opts) == nil then
    return nil
  end
  local keys = {}
  for k in pairs(s.opts) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. '=' .. fmt_value(s.opts[k])
  end
  return table.concat(parts, ' ')
end

--- Information about the running task, filled in by the worker. Outside a task, the fields
--- are nil and is_running_remotely is false.
M.current = {
  flow_name = nil,
  run_id = nil,
  step_name = nil,
  task_id = nil,
  pathspec = nil,
  retry_count = 0,
  origin_run_id = nil,
  namespace = nil,
  username = nil,
  is_running_remotely = false,
}

--- Runs fn() and prints how long it took, like the book's `profile` helper.
---@param label string
---@param fn function
---@return number seconds, any ... fn's results
function M.profile(label, fn)
  local t0 = os.clock()
  local wall0 = require('luaflow._host').now()
  local res = table.pack(fn())
  local dt = require('luaflow._host').now() - wall0
  print(string.format('%s: %.3f s (cpu %.3f s)', label, dt, os.clock() - t0))
  return dt, table.unpack(res, 1, res.n)
end

--- Runs fn over list in forked worker processes; results come back in order (see docs/nd.md).
---@param fn function
---@param list table
---@param opts? { workers?: integer }
---@return table
function M.parallel_map(fn, list, opts)
  local ok, res = pcall(require('luaflow._parallel').map, fn, list, opts)
  if not ok then
    error(res, 2)
  end
  return res
end

M._suggest = suggest
M._caller_site = caller_site
M._reserved_artifacts = RESERVED_ARTIFACTS

return M
