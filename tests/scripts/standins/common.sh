# Shared by the stand-ins: their mode, and the record of each call.
standin_name=$(basename "$0")
standin_key=STANDIN_$(tr 'a-z-' 'A-Z_' <<<"$standin_name")
standin_mode=${!standin_key:-pass}
{
  echo "CALL $standin_name $*"
  echo "  LD_LIBRARY_PATH=${LD_LIBRARY_PATH-<unset>}"
  echo "  CUDNN_LOGLEVEL_DBG=${CUDNN_LOGLEVEL_DBG-<unset>} CONVLAB_SYNC_EACH_OP=${CONVLAB_SYNC_EACH_OP-<unset>}"
} >>"${STANDIN_CALLS:-/dev/null}"
# standin_common_modes: hang and crash, the same for every stand-in.
standin_common_modes() {
  case $standin_mode in
    hang) echo "$standin_name: started"; exec sleep 100000 ;;
    crash) echo "$standin_name: about to crash"; kill -SEGV $$ ;;
  esac
}
