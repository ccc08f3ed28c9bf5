-- wrk script: every request is a back-channel logout whose token has the
-- provider's kid and a well-formed body but a signature by another key
-- (an attacker without the provider's key): each one costs the issuer a
-- full RS256 verification before it is refused. The token comes from the
-- FORGED_LOGOUT_TOKEN environment variable.
local body

function init(args)
  body = "logout_token=" .. os.getenv("FORGED_LOGOUT_TOKEN")
end

function request()
  return wrk.format("POST", "/v1/upstreams/bench-idp/backchannel-logout",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
