#!/usr/bin/env bash
# The documented commands that trained the shipped models. One training run at a time on both
# cores (a step takes half as long on 2 threads as on 1).
# - First round: each framework from random weights for MINUTES (25).
# - Second round: the reconstruction weighted toward the person (--foreground-weight FOREGROUND,
#   4, and --mask-weight MASK, 0: foreground x4 beat the plain loss side by side in
#   experiments/compare_reconstruction.py; the mask term on top gave no clear gain). NSD, CSSL
#   and CSSL-DA continue from their first-round runs for FINETUNE_MINUTES (20; 45 minutes of
#   training in all, the training budget). DRNet, whose objective changed (a scale-invariant
#   similarity loss, so its codes cannot collapse, and a code-scale term, so their scale cannot
#   drift), starts again from random weights for DRNET_MINUTES (45), with foreground x16 and the
#   hard-pixel term (the best reconstruction option side by side).
# - Baselines of the attack (shipped too): the supervised model, end to end on every training
#   subject's labels for SUPERVISED_STEPS (8,000 steps: what 15 minutes gave on an idle 2-core
#   machine; a fixed number of steps gives the same model under any load), and the same with
#   strong colour augmentation (--augment strong); both borrow the shipped models' detector
#   (DETECTOR, RUNS/detector).
#   bash experiments/train_models.sh [STUDIO] [RUNS] [STAGE ...]
# With STAGEs, only those run (a function below with its arguments, e.g. "ship nsd-person nsd").
# STUDIO defaults to runs/studio-standard.h5 (built here if missing), RUNS to runs/.
# Every stage is resumable: rerun the script after a kill and finished stages are skipped,
# interrupted training runs continue from their last checkpoint (--resume).
set -euo pipefail
cd "$(dirname "$0")/.."
STUDIO=${1:-runs/studio-standard.h5}
RUNS=${2:-runs}
WEIGHTS=dprobe/models/weights
DPROBE=${DPROBE:-.venv/bin/dprobe}
MINUTES=${MINUTES:-25}
SUPERVISED_STEPS=${SUPERVISED_STEPS:-8000}
FINETUNE_MINUTES=${FINETUNE_MINUTES:-20}
DRNET_MINUTES=${DRNET_MINUTES:-45}
FOREGROUND=${FOREGROUND:-4}
MASK=${MASK:-0}
DETECTOR=${DETECTOR:-$RUNS/detector}  # the detector the supervised baselines borrow
mkdir -p "$RUNS"

[ -f "$STUDIO" ] || $DPROBE studio build --preset standard --out "$STUDIO" --quiet

train() {  # train NAME FRAMEWORK [extra args, which override the defaults]: a self-supervised
           # run, resumed if interrupted
  local name=$1 framework=$2; shift 2
  [ -f "$RUNS/$name/done" ] && return 0
  local resume=(); [ -d "$RUNS/$name" ] && resume=(--resume)
  $DPROBE train --framework "$framework" --studio "$STUDIO" --out "$RUNS/$name" \
    --minutes "$MINUTES" --steps 20000 --threads 2 --quiet "${resume[@]}" "$@" \
    > "$RUNS/$name.log" 2>&1
  touch "$RUNS/$name/done"
}

supervised() {  # supervised NAME AUGMENT: the same encoder trained end to end with all training
                # labels (the labelled frames' jitter and mirror, and AUGMENT on top: none, or
                # strong for the colour-blind baseline), with the shipped models' detector S
  local name=$1 augment=$2
  [ -f "$RUNS/$name/done" ] && return 0
  local resume=(); [ -d "$RUNS/$name" ] && resume=(--resume)
  $DPROBE train-supervised --studio "$STUDIO" --out "$RUNS/$name" --augment "$augment" \
    --detector "$DETECTOR" --steps "$SUPERVISED_STEPS" --threads 2 --quiet \
    "${resume[@]}" > "$RUNS/$name.log" 2>&1
  touch "$RUNS/$name/done"
}

ship_supervised() {  # ship_supervised NAME: the supervised run NAME, fp16, into the package, with
                     # its figures (the baselines the attack is set beside)
  [ -f "$RUNS/$1/shipped" ] && return 0
  .venv/bin/python -c "import sys; from dprobe.models.checkpoint import load_checkpoint, \
save_checkpoint; save_checkpoint(load_checkpoint(sys.argv[1]), sys.argv[2], dtype='float16')" \
    "$RUNS/$1" "$WEIGHTS/$1"
  $DPROBE evaluate --model "$WEIGHTS/$1" --studio "$STUDIO" --out "$WEIGHTS/$1/figures.json" --force
  touch "$RUNS/$1/shipped"
}

baselines() {  # the robust baselines of the attack: supervised, and supervised with strong colour
               # augmentation (a model trained to ignore clothing colour)
  supervised supervised none
  supervised supervised-colour strong
  ship_supervised supervised
  ship_supervised supervised-colour
}

detector() {
  [ -f "$RUNS/detector/done" ] && return 0
  $DPROBE train-detector --studio "$STUDIO" --out "$RUNS/detector" --force --quiet \
    > "$RUNS/detector.log" 2>&1
  touch "$RUNS/detector/done"
}

ship() {  # ship NAME [SHIPPED]: regressor on S1 labels + detector, fp16, into the package as
          # SHIPPED (default NAME); figures and the picture of its reconstructions
  local name=$1 shipped=${2:-$1}
  [ -f "$RUNS/$name/shipped" ] && return 0
  $DPROBE train-regressor --model "$RUNS/$name" --studio "$STUDIO" --labelled S1 \
    --detector "$RUNS/detector" --dtype float16 --out "$WEIGHTS/$shipped" --force --quiet
  $DPROBE evaluate --model "$WEIGHTS/$shipped" --studio "$STUDIO" \
    --out "$WEIGHTS/$shipped/figures.json" --picture "$RUNS/$shipped-reconstructions.png" --force
  touch "$RUNS/$name/shipped"
}

five_subjects() {  # five_subjects NAME [MODEL]: MODEL's encoder (default RUNS/NAME; a shipped
                   # model's folder works too) with labels from all five training subjects
                   # (reported, not shipped), into RUNS/NAME-all
  local name=$1 model=${2:-$RUNS/$1}
  [ -f "$RUNS/$name-all/figures.json" ] && return 0
  $DPROBE train-regressor --model "$model" --studio "$STUDIO" \
    --labelled S1 S5 S6 S7 S8 --out "$RUNS/$name-all" --force --quiet
  $DPROBE evaluate --model "$RUNS/$name-all" --studio "$STUDIO" --out "$RUNS/$name-all/figures.json" --force
}

evaluate_shipped() {  # evaluate_shipped NAME: NAME's figures.json again (after an evaluation change)
  $DPROBE evaluate --model "$WEIGHTS/$1" --studio "$STUDIO" --out "$WEIGHTS/$1/figures.json" --force
}

ship_all() {  # ship_all NAME:SHIPPED ...
  for pair in "$@"; do ship ${pair/:/ }; done
  for pair in "$@"; do five_subjects "${pair##*:}" "$RUNS/${pair%%:*}"; done
}

# The second round's runs
person=(--foreground-weight "$FOREGROUND" --mask-weight "$MASK")
nsd_person() { train nsd-person nsd --init "$RUNS/nsd" --minutes "$FINETUNE_MINUTES" "${person[@]}"; }
cssl_person() { train cssl-person cssl --init "$RUNS/cssl" --minutes "$FINETUNE_MINUTES" "${person[@]}"; }
cssl_da_person() {
  train cssl-da-person cssl --augment jitter --init "$RUNS/cssl-da" --minutes "$FINETUNE_MINUTES" \
    "${person[@]}"
}
drnet_scale() {
  train drnet-x16-hard-scale drnet --minutes "$DRNET_MINUTES" --foreground-weight 16 --hard-weight 1
}

if [ $# -gt 2 ]; then  # only the named stages, e.g.: ... nsd_person "ship nsd-person nsd"
  for stage in "${@:3}"; do $stage; done
  exit 0
fi

# First round (its DRNet run is superseded by drnet-x16-hard-scale)
train nsd nsd
train cssl cssl
train cssl-da cssl --augment jitter
detector
# Second round
nsd_person
cssl_person
cssl_da_person
drnet_scale
ship_all nsd-person:nsd cssl-person:cssl drnet-x16-hard-scale:drnet cssl-da-person:cssl-da
baselines
$DPROBE models
