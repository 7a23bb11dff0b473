-- wrk script: POST the body in $BODY_FILE with JSON and API key headers.
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("API_KEY") or ""
