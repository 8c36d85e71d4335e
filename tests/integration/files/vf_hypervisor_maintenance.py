"""Test helper (the fleet test's stand-in for a hypervisor's reboot): after DELAY seconds, set the hypervisor's
maintenance flag with the vendor's update (PUT /compute/hypervisors/{id}), from the VIRTFUSION_* environment."""
import json
import os
import ssl
import sys
import time
import urllib.request

hid, value, delay = sys.argv[1], sys.argv[2] == "true", float(sys.argv[3])
time.sleep(delay)
ctx = ssl.create_default_context(cafile=os.environ["VIRTFUSION_CA_PATH"])
req = urllib.request.Request("%s/api/v1/compute/hypervisors/%s" % (os.environ["VIRTFUSION_API_URL"], hid),
                             data=json.dumps({"maintenance": value}).encode(), method="PUT",
                             headers={"Authorization": "Bearer %s" % os.environ["VIRTFUSION_API_TOKEN"],
                                      "Content-Type": "application/json"})
with urllib.request.urlopen(req, context=ctx, timeout=30) as answer:
    answer.read()
