-- A module beside the flows: `require` finds it next to the flow file.
local M = {}

--- The label of the centroid nearest to x.
function M.predict(model, x)
  local best, best_d
  for label, c in pairs(model.centroids) do
    local d = 0
    for k = 1, #c do
      d = d + (x[k] - c[k]) ^ 2
    end
    if not best_d or d < best_d then
      best, best_d = label, d
    end
  end
  return best
end

return M
