-- SPDX-License-Identifier: MIT
--- luaflow.std.csv: RFC 4180 CSV parsing (quoted fields, doubled quotes, CRLF, custom
--- delimiters).
local M = {}

--- Parses CSV text into a list of rows, each a list of strings.
---@param text string
---@param opts? { delimiter?: string }
---@return string[][]
function M.parse(text, opts)
  local delim = opts and opts.delimiter or ','
  assert(type(text) == 'string', 'csv.parse: text must be a string')
  assert(#delim == 1, 'csv.parse: the delimiter must be one character')
  local rows, row, field = {}, {}, {}
  local i, n = 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 1
        else
          quoted = false
        end
      else
        field[#field + 1] = c
      end
    elseif c == '"' then
      quoted = true
    elseif c == delim then
      row[#row + 1] = table.concat(field)
      field = {}
    elseif c == '\n' or c == '\r' then
      if c == '\r' and text:sub(i + 1, i + 1) == '\n' then
        i = i + 1
      end
      row[#row + 1] = table.concat(field)
      rows[#rows + 1] = row
      row, field = {}, {}
    else
      field[#field + 1] = c
    end
    i = i + 1
  end
  if quoted then
    error('csv.parse: unterminated quoted field', 2)
  end
  if #field > 0 or #row > 0 then
    row[#row + 1] = table.concat(field)
    rows[#rows + 1] = row
  end
  return rows
end

return M
