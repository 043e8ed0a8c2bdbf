#!/bin/bash
# Merge the shards graded by slurm/grade-shard.sbatch into the course: its gradebook, feedback and autograded
# notebooks, then the grades CSV and the item analysis of the whole class (assignments/README.md). Run it on
# one machine, with the same environment variables as the job array, once every task has finished:
#
#   MNISTLAB_COURSE=/shared/course MNISTLAB_SCRATCH=/scratch MNISTLAB_SHARDS=16 slurm/merge-shards.sh
#
# Merging is idempotent: run it again after re-submitting a task that died. It exits with status 1 when a
# submission is flagged, rejected or not graded in any shard (listed in its output), like `mnistlab grade`.
set -euo pipefail
: "${MNISTLAB_COURSE:?set MNISTLAB_COURSE to the released course folder the shards were copied from}"
: "${MNISTLAB_SHARDS:?set MNISTLAB_SHARDS to the number of shards, the size of the job array}"
assignment=${MNISTLAB_ASSIGNMENT:-a2_relu_softmax}
scratch=${MNISTLAB_SCRATCH:-/scratch}

shards=()
for ((k = 0; k < MNISTLAB_SHARDS; k++)); do
  if [ ! -d "$scratch/course-$k" ]; then
    echo "merge-shards.sh: $scratch/course-$k does not exist: shard $k has not run;" \
      "submit it with: sbatch --array=$k slurm/grade-shard.sbatch" >&2
    exit 2
  fi
  shards+=(--merge-from "$scratch/course-$k")
done
exec mnistlab grade "$assignment" --course "$MNISTLAB_COURSE" "${shards[@]}"
