#!/usr/bin/env bash
# Creates .venv/ and installs the pinned OpenMMLab stack, then this project (editable).
# Called by `make install`; safe to re-run. GPU machines: `FORCE_CUDA=1 make install`
# compiles mmcv's CUDA ops (the cached CPU wheel is then ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -c requirements/constraints.txt)

"${pip[@]}" -q "pip<25" -r requirements/build.txt
"${pip[@]}" -r requirements/torch.txt

# mmcv 2.1.0 is published as source only: compile it against the torch installed above.
if ! .venv/bin/python -c "import mmcv.ops" 2>/dev/null; then
    mmcv_args=(--no-build-isolation -r requirements/mmcv.txt)
    cache="${MGD_WHEEL_CACHE:-../shared/wheels}"
    if [ "${FORCE_CUDA:-0}" = "1" ]; then
        echo ">> FORCE_CUDA=1: compiling mmcv 2.1.0 with CUDA ops (20-40 min)."
        mmcv_args+=(--no-binary mmcv --no-cache-dir)
    elif [ -d "$cache" ]; then
        echo ">> Using the mmcv wheel cache in $cache (falls back to compiling if it does not fit)."
        mmcv_args+=(--find-links "$cache")
    else
        echo ">> Compiling mmcv 2.1.0 from source against torch: about 25 min on 2 cores."
    fi
    # mmcv's setup.py also compiles CUDA ops whenever torch sees a GPU, which needs nvcc:
    # hide the GPU unless FORCE_CUDA=1 asks for them (mgd routes CUDA ops to torchvision).
    hide_gpu=(); [ "${FORCE_CUDA:-0}" = "1" ] || hide_gpu=(env CUDA_VISIBLE_DEVICES=)
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${hide_gpu[@]}" "${pip[@]}" "${mmcv_args[@]}"
fi

"${pip[@]}" -r requirements/runtime.txt -r requirements/tests.txt
"${pip[@]}" --no-build-isolation --no-deps -e .
.venv/bin/python -c "import mgd.models, mmcv.ops, mmdet, mmrazor, mmpretrain, mmseg.models, mmyolo.models, pytorch_grad_cam, onnxruntime.quantization; print('>> stack ready')"
