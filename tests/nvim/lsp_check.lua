-- Drives `rbk lsp` from Neovim (0.7 and later): opens a file, waits for
-- the diagnostics, asks for hover and definition, and writes what it got,
-- one line per fact, to $RBK_NVIM_OUT. Run by tests/nvim.rs.
--
--   RBK_BIN=target/debug/rbk RBK_NVIM_FILE=/path/main.rbk RBK_NVIM_OUT=out.txt \
--     nvim --headless --clean -n -c 'luafile tests/nvim/lsp_check.lua'

local out = assert(io.open(os.getenv('RBK_NVIM_OUT'), 'w'))
local function say(...)
  out:write(table.concat({ ... }, ' '), '\n')
  out:flush()
end

local ok, err = pcall(function()
  local file = os.getenv('RBK_NVIM_FILE')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'rbk',
    cmd = { os.getenv('RBK_BIN'), 'lsp' },
    root_dir = vim.fn.fnamemodify(file, ':h'),
  })
  assert(client_id, 'the client did not start')
  vim.lsp.buf_attach_client(buf, client_id)
  say('client', tostring(client_id))

  local got = vim.wait(20000, function()
    return #vim.diagnostic.get(buf) > 0
  end, 50)
  say('diagnostics-arrived', tostring(got))
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local msg = (d.message or ''):gsub('\n.*', '')
    -- Neovim keeps 0-based lines and byte columns.
    say('diagnostic', tostring(d.lnum + 1) .. ':' .. tostring(d.col + 1), tostring(d.code or ''), msg)
  end

  -- Puts the cursor on the first `needle` after line `from`, `shift` bytes in.
  local function cursor_on(needle, shift)
    local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    for i, line in ipairs(lines) do
      local s = string.find(line, needle, 1, true)
      if s then
        vim.api.nvim_win_set_cursor(0, { i, s - 1 + shift })
        return
      end
    end
    error('not found: ' .. needle)
  end

  local function request(method)
    local params = vim.lsp.util.make_position_params()
    local results = vim.lsp.buf_request_sync(buf, method, params, 20000)
    for _, r in pairs(results or {}) do
      if r.result then
        return r.result
      end
      if r.err then
        say('error', method, vim.inspect(r.err))
      end
    end
    return nil
  end

  cursor_on('ticket.title', 1)
  local hover = request('textDocument/hover')
  if hover and hover.contents then
    local value = hover.contents.value or vim.inspect(hover.contents)
    for line in value:gmatch('[^\n]+') do
      say('hover', line)
    end
    if hover.range then
      say('hover-range', hover.range.start.line .. ':' .. hover.range.start.character,
        hover.range['end'].line .. ':' .. hover.range['end'].character)
    end
  else
    say('hover', 'none')
  end

  cursor_on('.get(', 2)
  local def = request('textDocument/definition')
  if def then
    local loc = def.uri and def or def[1]
    say('definition', vim.fn.fnamemodify(vim.uri_to_fname(loc.uri), ':t'),
      tostring(loc.range.start.line + 1) .. ':' .. tostring(loc.range.start.character + 1))
  else
    say('definition', 'none')
  end

  -- Edits through Neovim's own change tracking (incremental didChange):
  -- a line with non-ASCII text above, then the misspelt name fixed.
  vim.api.nvim_buf_set_lines(buf, 0, 0, false, { '# ünïcödé 😀 first' })
  cursor_on('numbr', 0)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  vim.api.nvim_buf_set_text(buf, row - 1, col, row - 1, col + 5, { 'number' })
  local cleared = vim.wait(20000, function()
    return #vim.diagnostic.get(buf) == 0
  end, 50)
  say('diagnostics-after-edit', tostring(cleared), tostring(#vim.diagnostic.get(buf)))
  cursor_on('ticket.title', 1)
  local again = request('textDocument/hover')
  if again and again.range then
    say('hover-range-after-edit', again.range.start.line .. ':' .. again.range.start.character,
      again.range['end'].line .. ':' .. again.range['end'].character)
  end

  vim.lsp.stop_client(client_id)
  vim.wait(2000, function()
    return vim.lsp.get_client_by_id(client_id) == nil
  end, 50)
  say('done')
end)
if not ok then
  say('lua-error', tostring(err))
end
out:close()
vim.cmd('qa!')
