-- wrk script: every request is a refresh with a fresh random token that the
-- issuer never issued (an attacker spraying guesses or garbage).
local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

function init(args)
  math.randomseed(os.time() + (id or 0))
end

function request()
  local t = {}
  for i = 1, 43 do
    local n = math.random(1, #chars)
    t[i] = chars:sub(n, n)
  end
  return wrk.format("POST", "/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. table.concat(t) .. '"}')
end
