#!/usr/bin/env bash
# Install the model packages the adapter tests and notebooks/faces.ipynb run on, in .venv.
#
#   scripts/install_models_extra.sh            # the `models` extra + the --no-deps packages below
#
# Three packages declare dependencies that must not be installed here (torchvision, which would
# replace or break this torch, plus gradio/wandb/...), so they go in with --no-deps; what they
# actually import comes from the `models` extra in pyproject.toml:
#   pythae==0.1.2             VAE zoo (pydantic 2, cloudpickle, scikit-learn, scipy)
#   draggan==1.1.6            carries NVlabs' StyleGAN2-ADA code and a rosinality StyleGAN2 (test-only:
#                             NVlabs' code is non-commercial and never copied into latentwidgets)
#   gan-face-generate==1.1.1  64x64 face DCGAN weights (trained on DigiFace-1M: non-commercial
#                             research use only; used by notebooks/faces.ipynb and the tests)
# Safe to run again. Environment: LW_VENV (default .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VPY="${LW_VENV:-$ROOT/.venv}/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check --no-input)
TORCH_BEFORE="$("$VPY" -c 'import torch; print(torch.__version__)')"

echo "[models] installing latentwidgets[models]"
"${PIP[@]}" install -q -e "$ROOT[models]"
echo "[models] installing pythae, draggan, gan-face-generate (--no-deps)"
"${PIP[@]}" install -q --no-deps pythae==0.1.2 draggan==1.1.6 gan-face-generate==1.1.1

"$VPY" - "$TORCH_BEFORE" <<'PYEOF'
import importlib.util, sys
import torch
if torch.__version__ != sys.argv[1]:
    sys.exit(f"torch changed from {sys.argv[1]} to {torch.__version__}: a model package pulled another torch")
if importlib.util.find_spec("torchvision") is not None:
    sys.exit("torchvision got installed; it does not import beside this torch: pip uninstall -y torchvision")
for mod in ("diffusers", "pytorch_pretrained_biggan", "pythae.models", "draggan", "gan_face_generate.models"):
    if importlib.util.find_spec(mod.split(".")[0]) is None:
        sys.exit(f"{mod} is missing after the install")
print("[models] done: torch", torch.__version__)
PYEOF
