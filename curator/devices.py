"""Where torch work runs. 'auto' means CUDA when a CUDA device is present, else the CPU. And what the CPU can
compute fast: bfloat16 needs its own instructions (AVX512-BF16 or AMX); without them torch emulates it, slowly."""

from pathlib import Path

from curator.errors import OptionError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # the /proc/cpuinfo flags of bfloat16 instructions
CPUINFO = Path("/proc/cpuinfo")


def resolve_device(device: str) -> str:
    import torch  # the CLI imports DEVICE_CHOICES at start-up; torch loads only when a command needs it

    if device not in DEVICE_CHOICES:
        raise OptionError(f"--device: '{device}' is not one of {', '.join(DEVICE_CHOICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA device is available")
    return device


def cpu_bfloat16_flags() -> list[str]:
    """The bfloat16 instruction sets of this CPU (of BFLOAT16_CPU_FLAGS); none where CPUINFO cannot be read (a
    system without /proc): the safe answer, since bfloat16 without them is slow."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}
    return [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]
