# Converts a PyTorch checkpoint of the reference WideResNet (e.g. TRADES' model-wideres-epoch76.pt) into the
# safetensors state_dict `advfree eval` reads. Needs PyTorch and safetensors (advfree itself does not).
# usage: python3 examples/trades-to-safetensors.py IN.pt OUT.safetensors
import sys

import torch
from safetensors.torch import save_file

src, out = sys.argv[1:3]
ckpt = torch.load(src, map_location='cpu', weights_only=True)
state = ckpt.get('state_dict', ckpt.get('model_state_dict', ckpt))          # some files wrap the state_dict
state = {k.removeprefix('module.'): v for k, v in state.items()                # nn.DataParallel's prefix
         if not k.startswith('sub_block1.')}                                  # TRADES' unused extra group
state = {k: (v if v.dtype == torch.int64 else v.float()).contiguous() for k, v in state.items()}
save_file(state, out)                                                          # no metadata needed
