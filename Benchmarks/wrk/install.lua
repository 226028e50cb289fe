-- POST /api/v3/addons, each request a new cluster (so every one is a real insert, committed before the 201).
-- BENCH_RUN keeps clusters unique across repeated runs against the same database.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.format('{"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}}, ' ..
    '"spec": {"clusterID": "bench-%s-%d-%d", "values": {"basic": {"cluster_ip": "10.247.3.10"}}, "addonTemplateName": "coredns"}}', run, tid, counter)
  return wrk.format("POST", "/api/v3/addons", {["Content-Type"] = "application/json"}, body)
end

