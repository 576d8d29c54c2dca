"""Where torch work runs. 'auto' means CUDA when a CUDA device is present, else the CPU."""

from curator.errors import OptionError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    import torch  # the CLI imports DEVICE_CHOICES at start-up; torch loads only when a command needs it

    if device not in DEVICE_CHOICES:
        raise OptionError(f"--device: '{device}' is not one of {', '.join(DEVICE_CHOICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA device is available")
    return device
