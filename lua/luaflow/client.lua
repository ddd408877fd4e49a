-- SPDX-License-Identifier: MIT
--- luaflow.client: the history of runs, like Metaflow's client API.
---
---   local client = require('luaflow.client')
---   local run = client.Flow('ClassifierTrainFlow').latest_successful_run
---   local model = run:step('end').task.data.model
---
--- Objects are found by pathspec ("Flow/run/step/task") in the current namespace: by default
--- the runs of the current user ("user:<name>"); `namespace(nil)` sees everyone's. A missing
--- object is `nil, "no run 'Flow/12'"`, never an error. Artifacts load lazily.
local M = {}

local index -- the history index, opened on first use
local ns -- the namespace; false means all

local function host()
  return require('luaflow._host')
end

local function open()
  if index then
    return index
  end
  -- In a task, its run's datastore; elsewhere the one `luaflow` would use (variables, then
  -- ~/.luaflowconfig/config.json, then ./.luaflow).
  local root = host().root() or host().default_root()
  local idx, err = require('luaflow._index').open(root)
  if not idx then
    error('luaflow.client: ' .. err, 3)
  end
  index = idx
  return index
end

--- The default namespace: "user:<name>" of whoever runs this.
---@return string
function M.default_namespace()
  local user = host().user() or os.getenv('LUAFLOW_USER') or os.getenv('USER') or 'unknown'
  return 'user:' .. user
end

--- Sets the namespace ("user:ann", any tag, or nil for everything) and returns it.
---@param name? string
---@return string|nil
function M.namespace(name)
  if name ~= nil and type(name) ~= 'string' then
    error('namespace: expected a tag like "user:ann", or nil for all runs', 2)
  end
  if name == nil then
    ns = false -- everyone's runs
  else
    ns = name
  end
  return name
end

--- The current namespace (nil means all runs).
function M.get_namespace()
  if ns == nil then
    ns = M.default_namespace()
  end
  return ns or nil
end

local function in_namespace(run)
  local cur = M.get_namespace()
  if not cur then
    return true
  end
  for _, t in ipairs(run.system_tags) do
    if t == cur then
      return true
    end
  end
  for _, t in ipairs(run.tags) do
    if t == cur then
      return true
    end
  end
  return false
end

local function split(pathspec)
  local parts = {}
  for p in tostring(pathspec):gmatch('[^/]+') do
    parts[#parts + 1] = p
  end
  return parts
end

local Flow, Run, Step, Task = {}, {}, {}, {}

local function lazy(class, getters)
  class.__index = function(self, k)
    local m = rawget(class, k)
    if m ~= nil then
      return m
    end
    local g = getters[k]
    if g then
      return g(self)
    end
    local fallback = rawget(class, '__fallback')
    if fallback then
      return fallback(self, k)
    end
    return nil
  end
  -- The names an object answers to, for the REPL's tab completion.
  class.__complete = function(self)
    local names = {}
    for k in pairs(class) do
      if type(k) == 'string' and not k:match('^__') then
        names[#names + 1] = k
      end
    end
    for k in pairs(getters) do
      names[#names + 1] = k
    end
    for k in pairs(self) do
      if type(k) == 'string' then
        names[#names + 1] = k
      end
    end
    local extra = rawget(class, '__complete_extra')
    for _, n in ipairs(extra and extra(self) or {}) do
      names[#names + 1] = n
    end
    return names
  end
end

-- ---- Task ---------------------------------------------------------------------------------

local function make_task(run, info)
  return setmetatable({
    flow = run.flow,
    run_id = run.id,
    step_name = info.step,
    id = info.id,
    pathspec = string.format('%s/%s/%s/%s', run.flow, run.id, info.step, info.id),
    info = info,
  }, Task)
end

local function log_of(task, stream)
  local key = string.format('%s/%s/%s/%s/%d.%s', task.flow, task.run_id, task.step_name, task.id,
    task.info.attempt, stream)
  return open():log(key)
end

lazy(Task, {
  successful = function(t)
    return t.info.committed and t.info.status == 'ok'
  end,
  finished = function(t)
    return t.info.finished_at ~= nil and t.info.finished_at > 0
  end,
  created_at = function(t)
    return t.info.started_at / 1e6
  end,
  finished_at = function(t)
    return t.info.finished_at > 0 and t.info.finished_at / 1e6 or nil
  end,
  origin = function(t)
    return t.info.origin
  end,
  pid = function(t)
    return t.info.pid
  end,
  attempt = function(t)
    return t.info.attempt
  end,
  stdout = function(t)
    return log_of(t, 'stdout')
  end,
  stderr = function(t)
    return log_of(t, 'stderr')
  end,
  artifacts = function(t)
    if not t.info.committed then
      return {}
    end
    local list = open():artifacts(t.flow, t.run_id, t.step_name, t.id) or {}
    local out = {}
    for i, a in ipairs(list) do
      out[i] = { name = a.name, type = a.type, size = a.size, sha = a.sha }
      out[a.name] = out[i]
    end
    return out
  end,
  data = function(t)
    local arts = t.artifacts
    local cache = {}
    return setmetatable({}, {
      __index = function(_, name)
        local a = arts[name]
        if type(name) ~= 'string' or not a then
          return nil
        end
        local v = cache[name]
        if v == nil then
          v = open():load(t.flow, a.sha)
          cache[name] = v
        end
        return v
      end,
      __complete = function()
        local names = {}
        for i, a in ipairs(arts) do
          names[i] = a.name
        end
        return names
      end,
      __pairs = function()
        local i = 0
        return function()
          i = i + 1
          local a = arts[i]
          if a then
            return a.name, t.data[a.name]
          end
        end
      end,
    })
  end,
})
Task.__name = 'luaflow.Task'
Task.__tostring = function(t)
  return 'Task(' .. t.pathspec .. ')'
end

-- ---- Step ---------------------------------------------------------------------------------

local function make_step(run, name)
  return setmetatable({ flow = run.flow, run_id = run.id, name = name, run = run,
    pathspec = string.format('%s/%s/%s', run.flow, run.id, name) }, Step)
end

--- The step's tasks, in task id order.
function Step:tasks()
  local list = open():tasks(self.flow, self.run_id, self.name) or {}
  local out = {}
  for i, info in ipairs(list) do
    out[i] = make_task(self.run, info)
  end
  return out
end

lazy(Step, {
  task = function(s)
    return s:tasks()[1]
  end,
})
Step.__name = 'luaflow.Step'
Step.__tostring = function(s)
  return 'Step(' .. s.pathspec .. ')'
end

-- ---- Run ----------------------------------------------------------------------------------

local function make_run(info)
  return setmetatable({ flow = info.flow, id = info.id, info = info,
    pathspec = info.flow .. '/' .. info.id }, Run)
end

--- The step `name` of the run, or nil, "no step 'Flow/1/x'".
function Run:step(name)
  for _, s in ipairs(open():steps(self.flow, self.id) or {}) do
    if s == name then
      return make_step(self, name)
    end
  end
  return nil, string.format("no step '%s/%s'", self.pathspec, tostring(name))
end

--- The run's steps in execution order.
function Run:steps()
  local out = {}
  for i, s in ipairs(open():steps(self.flow, self.id) or {}) do
    out[i] = make_step(self, s)
  end
  return out
end

local function change_tags(run, add, remove)
  if host().in_task() then
    error('luaflow.client: tags are changed from outside a run (a script, the REPL, or '
      .. "'luaflow tag'); a step must not write the history index", 3)
  end
  local tags, err = open():tag(run.flow, run.id, add, remove)
  if not tags then
    error('luaflow.client: ' .. err, 3)
  end
  run.info.tags = tags
  return tags
end

--- Adds user tags to the run; returns its user tags. System tags are read-only.
---@param ... string
function Run:add_tag(...)
  return change_tags(self, { ... }, nil)
end

--- Removes user tags from the run; returns its user tags.
---@param ... string
function Run:remove_tag(...)
  return change_tags(self, nil, { ... })
end

Run.__fallback = function(run, k)
  if type(k) == 'string' then
    return (run:step(k))
  end
end

lazy(Run, {
  successful = function(r)
    return r.info.status == 'ok'
  end,
  finished = function(r)
    return r.info.status ~= 'running'
  end,
  status = function(r)
    return r.info.status
  end,
  created_at = function(r)
    return r.info.created_at / 1e6
  end,
  finished_at = function(r)
    return r.info.finished_at > 0 and r.info.finished_at / 1e6 or nil
  end,
  user = function(r)
    return r.info.user
  end,
  tags = function(r)
    return r.info.tags
  end,
  system_tags = function(r)
    return r.info.system_tags
  end,
  origin = function(r)
    return r.info.origin_run and (r.flow .. '/' .. r.info.origin_run) or nil
  end,
  parameters = function(r)
    local info = (open():tasks(r.flow, r.id, '_parameters') or {})[1]
    if not info then
      return {}
    end
    local task = make_task(r, info)
    local out = {}
    for _, a in ipairs(task.artifacts) do
      out[a.name] = task.data[a.name]
    end
    return out
  end,
  ['end'] = function(r)
    return (r:step('end'))
  end,
})
Run.__complete_extra = function(r)
  return open():steps(r.flow, r.id) or {}
end
Run.__name = 'luaflow.Run'
Run.__tostring = function(r)
  return 'Run(' .. r.pathspec .. ')'
end

-- ---- Flow ---------------------------------------------------------------------------------

--- Runs of the flow in the namespace, newest first; `opts.tags` keeps runs with all tags.
---@param opts? { tags?: string[], limit?: integer }
function Flow:runs(opts)
  opts = opts or {}
  local tags = {}
  for i, t in ipairs(opts.tags or {}) do
    tags[i] = t
  end
  local cur = M.get_namespace()
  if cur then
    tags[#tags + 1] = cur
  end
  local list = open():runs(self.name, { tags = tags, limit = opts.limit }) or {}
  local out = {}
  for i, info in ipairs(list) do
    out[i] = make_run(info)
  end
  return out
end

local function latest(flow, successful)
  local cur = M.get_namespace()
  if cur and cur:match('^user:') then
    local id = open():latest(flow.name, successful, cur:sub(6))
    return id and make_run(open():run(flow.name, id)) or nil
  end
  for _, r in ipairs(flow:runs({ limit = successful and nil or 1 })) do
    if not successful or r.successful then
      return r
    end
  end
  return nil
end

lazy(Flow, {
  latest_run = function(f)
    return latest(f, false)
  end,
  latest_successful_run = function(f)
    return latest(f, true)
  end,
})
Flow.__name = 'luaflow.Flow'
Flow.__tostring = function(f)
  return 'Flow(' .. f.name .. ')'
end

-- ---- Lookup by pathspec -------------------------------------------------------------------

--- Names of every flow with a run in the history (any namespace), sorted.
---@return string[]
function M.flows()
  return open():flows() or {}
end

--- A flow by name (whether or not it has runs in the namespace).
function M.Flow(name)
  if type(name) ~= 'string' or not name:match('^[%a_][%w_]*$') then
    error('Flow: expected a flow name, got ' .. tostring(name), 2)
  end
  return setmetatable({ name = name, pathspec = name }, Flow)
end

--- A run by pathspec "Flow/run", or nil, "no run 'Flow/run'".
function M.Run(pathspec)
  local p = split(pathspec)
  if #p ~= 2 then
    error("Run: expected a pathspec 'Flow/run', got " .. tostring(pathspec), 2)
  end
  local info = open():run(p[1], p[2])
  if not info or not in_namespace(info) then
    return nil, string.format("no run '%s/%s'%s", p[1], p[2],
      info and (' in namespace ' .. M.get_namespace()) or '')
  end
  return make_run(info)
end

--- A step by pathspec "Flow/run/step", or nil, message.
function M.Step(pathspec)
  local p = split(pathspec)
  if #p ~= 3 then
    error("Step: expected a pathspec 'Flow/run/step', got " .. tostring(pathspec), 2)
  end
  local run, err = M.Run(p[1] .. '/' .. p[2])
  if not run then
    return nil, err
  end
  return run:step(p[3])
end

--- A task by pathspec "Flow/run/step/task", or nil, message.
function M.Task(pathspec)
  local p = split(pathspec)
  if #p ~= 4 then
    error("Task: expected a pathspec 'Flow/run/step/task', got " .. tostring(pathspec), 2)
  end
  local step, err = M.Step(p[1] .. '/' .. p[2] .. '/' .. p[3])
  if not step then
    return nil, err
  end
  for _, t in ipairs(step:tasks()) do
    if t.id == p[4] then
      return t
    end
  end
  return nil, string.format("no task '%s'", pathspec)
end

return M
