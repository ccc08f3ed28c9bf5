-- wrk script: each thread holds one device session and refreshes it in a
-- chain, every response's refresh_token becoming the next request's. Give
-- one refresh token per thread after `--`, and as many connections as
-- threads, so each chain has one request in flight.
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  token = args[id]
end

function request()
  return wrk.format("POST", "/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    token = body:match('"refresh_token":"([^"]+)"')
  end
end
