# shellcheck shell=bash
# Sourced after `python -m lab start`: export the AVI_* connection of the lab in $LAB_STATE
# (controller address and CA from lab.json, credentials from the topology in $LAB_TOPOLOGY).
_lab_json="$LAB_STATE/lab.json"
AVI_CONTROLLER="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["avi"]["url"].split("://",1)[1])' "$_lab_json")"
export AVI_CONTROLLER
AVI_CA_PATH="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_path"])' "$_lab_json")"
export AVI_CA_PATH
AVI_USERNAME="$(python -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["controller"]["username"])' "$LAB_TOPOLOGY")"
export AVI_USERNAME
AVI_PASSWORD="$(python -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["controller"]["password"])' "$LAB_TOPOLOGY")"
export AVI_PASSWORD
unset _lab_json
