-- A stateless mix (wrk's Lua state is per thread, shared by its connections): 25 % installs into new clusters,
-- 50 % shows and 20 % lists of add-ons the harness created beforehand (ids in $BENCH_IDS, one "uid cluster" a line),
-- 5 % template lists.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  local uid, cluster = line:match("(%S+) (%S+)")
  table.insert(ids, {uid = uid, cluster = cluster})
end
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local pick = counter % 20
  local known = ids[(counter % #ids) + 1]
  if pick < 5 then
    local body = string.format('{"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": "mix-%s-%d-%d", "values": {}, "addonTemplateName": "npd"}}', run, tid, counter)
    return wrk.format("POST", "/api/v3/addons", {["Content-Type"] = "application/json"}, body)
  elseif pick < 15 then
    return wrk.format("GET", "/api/v3/addons/" .. known.uid)
  elseif pick < 19 then
    return wrk.format("GET", "/api/v3/addons?cluster_id=" .. known.cluster)
  else
    return wrk.format("GET", "/api/v3/addontemplates?addon_template_name=coredns")
  end
end
