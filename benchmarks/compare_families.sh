#!/usr/bin/env bash
# O3 "GAN vs diffusion, measured": train a DCGAN, a hinge-loss ResNet GAN (spectral norm) and a
# diffusion model for the same training time on the same dataset, measure each with one in-domain
# feature network, and write one comparison page.
#
#   MINUTES=20 DATA=mnist RES=32 N=1000 bash benchmarks/compare_families.sh
#
# Every run stops after MINUTES of training steps (TrainConfig.max_minutes; where it stops depends
# on the machine, so the runs are not reproducible step for step). All run in fp32 (bf16 autocast
# is slow on most CPUs). Checkpoints every CKPT_EVERY steps are kept so the page can plot FID
# against training time (--all-checkpoints); the diffusion model is also measured at several
# sampler step counts. Outputs: $OUT/<run>/eval-*.json and $REPORT (+ .json with the numbers).
# Measuring costs generation: N images per checkpoint, and a diffusion model pays its sampler
# steps for each (N x 50 U-Net passes by default, and again per SAMPLER_STEPS entry), so on a CPU
# keep N and the number of checkpoints (CKPT_EVERY) modest or drop --all-checkpoints.
set -euo pipefail

DATA=${DATA:-mnist}
RES=${RES:-32}
MINUTES=${MINUTES:-10}
N=${N:-1000}
OUT=${OUT:-runs/compare-families}
REPORT=${REPORT:-docs/compare-families.html}
BATCH=${BATCH:-64}
CKPT_EVERY=${CKPT_EVERY:-250}
SAMPLER_STEPS=${SAMPLER_STEPS:-5,10,25,50}
FEATURE_STEPS=${FEATURE_STEPS:-800}
HUASHI=${HUASHI:-python -m huashi}

common=(--data "$DATA" --resolution "$RES" --batch-size "$BATCH" --precision fp32 --quiet)
timed=(--steps 100000000 --max-minutes "$MINUTES" --checkpoint-every "$CKPT_EVERY" --keep-last 50)

# 1. the in-domain feature network (a classifier for labelled data; use clip for captioned data)
if [ ! -f "$OUT/classifier/config.json" ]; then
  $HUASHI train classifier "${common[@]}" --steps "$FEATURE_STEPS" --out "$OUT/classifier"
fi
FEATURES="classifier:$OUT/classifier"

# 2. three painters, the same training time each
$HUASHI train dcgan "${common[@]}" "${timed[@]}" --out "$OUT/dcgan"
$HUASHI train gan "${common[@]}" "${timed[@]}" --arch resnet --loss hinge --spectral-norm \
  --out "$OUT/gan-resnet-hinge"
$HUASHI train diffusion "${common[@]}" "${timed[@]}" --base-channels 32 --channel-mults '[1, 2, 2]' \
  --out "$OUT/diffusion"

# 3. measure each (same seeds, same real images, same feature network) and compare
for run in dcgan gan-resnet-hinge diffusion; do
  $HUASHI eval "$OUT/$run" --features "$FEATURES" --n "$N"
done
$HUASHI compare "$OUT/dcgan" "$OUT/gan-resnet-hinge" "$OUT/diffusion" --features "$FEATURES" \
  --n "$N" --all-checkpoints --sampler-steps "$SAMPLER_STEPS" --out "$REPORT" \
  --title "DCGAN vs hinge/ResNet GAN vs diffusion: $MINUTES minutes of training each on $DATA ${RES}px" \
  --notes "Trained with benchmarks/compare_families.sh (MINUTES=$MINUTES, BATCH=$BATCH, fp32); metrics from $N samples under $FEATURES."
echo "report: $REPORT"
