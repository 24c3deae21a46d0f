-- wrk script: a fresh X-Ca-Nonce on every request, so that each one is checked against the
-- replay store (in memory, or in Redis with APIGW_REDIS_URL) and recorded there. The nonce is
-- not among the signed headers, so one pre-computed signature serves every request. Unique
-- across threads, runs and rounds: a random prefix from /dev/urandom and a counter.
local counter = 0
local prefix

function init(args)
    local f = assert(io.open("/dev/urandom", "rb"))
    local bytes = f:read(8)
    f:close()
    prefix = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end) .. "-"
end

function request()
    counter = counter + 1
    wrk.headers["X-Ca-Nonce"] = prefix .. counter
    return wrk.format()
end
