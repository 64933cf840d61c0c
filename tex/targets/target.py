"""`Target`: what a kernel is compiled for, parsed from TVM-style strings.

    "llvm"                                     the host CPU with all its features
    "llvm -mcpu=skylake-avx512"                that CPU (its features are implied by the name)
    "llvm -mcpu=znver4 -mattr=+avx2,-avx512f"  a CPU with features switched on/off
    "llvm -mattr=+avx2,+fma"                   LLVM's generic x86-64 plus those features (as in TVM)
    "opencl" / "opencl -device=N"              the N-th OpenCL device of `list_devices()`
    "opencl -device=rtx" / "-platform=NVIDIA"   the device / platform whose name contains that word
                                               (case-insensitive, the first match that builds a kernel;
                                               digits alone are an index)

`str(Target.parse(s))` gives back a canonical form of `s`; parsing it again gives an equal Target.
llvmlite is imported lazily: parsing a string needs nothing but Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class TargetKind(StrEnum):
    LLVM = "llvm"
    OPENCL = "opencl"


_OPTIONS: dict[TargetKind, tuple[str, ...]] = {
    TargetKind.LLVM: ("-mcpu", "-mattr", "-mtriple"),
    TargetKind.OPENCL: ("-platform", "-device"),
}


@dataclass(frozen=True)
class Target:
    """A compilation target: `Target("llvm -mcpu=...")` (or `Target.parse`, `as_target`).

    mcpu/mattr hold what was written (None / () when absent); `llvm_cpu()`/`llvm_features()`
    resolve them against the host.
    """

    kind: TargetKind
    mcpu: str | None = None
    mattr: tuple[str, ...] = ()
    mtriple: str | None = None
    device: int | None = None
    device_name: str | None = None   # opencl: part of the device's name (-device=NAME)
    platform: str | None = None      # opencl: part of the platform's name (-platform=NAME)

    def __post_init__(self) -> None:
        """`Target("llvm -mcpu=...")` parses the string, as TVM's `Target(...)` does."""
        if isinstance(self.kind, TargetKind):
            return
        if (self.mcpu, self.mattr, self.mtriple, self.device, self.device_name, self.platform) != \
                (None, (), None, None, None, None):
            raise ValueError(f"target {self.kind!r}: give options in the string or as keywords, not both")
        parsed = Target.parse(self.kind)
        for name in ("kind", "mcpu", "mattr", "mtriple", "device", "device_name", "platform"):
            object.__setattr__(self, name, getattr(parsed, name))

    @staticmethod
    def parse(text: str) -> Target:
        """Parse a target string; a bad part raises ValueError naming it."""
        if not isinstance(text, str):
            raise TypeError(f"target: expected a string such as 'llvm' or 'opencl', got {type(text).__name__}")
        words = text.split()
        if not words:
            raise ValueError("target: empty target string, expected 'llvm' or 'opencl'")
        try:
            kind = TargetKind(words[0])
        except ValueError:
            raise ValueError(
                f"target {text!r}: unknown target kind {words[0]!r}, expected one of "
                f"{', '.join(k.value for k in TargetKind)}"
            ) from None
        opts: dict[str, str] = {}
        for w in words[1:]:
            key, eq, value = w.partition("=")
            if key not in _OPTIONS[kind]:
                raise ValueError(
                    f"target {text!r}: unknown option {key!r} for {kind.value}, expected one of "
                    f"{', '.join(_OPTIONS[kind])}"
                )
            if not eq or not value:
                raise ValueError(f"target {text!r}: option {key!r} needs a value, as in {key}=...")
            if key in opts:
                raise ValueError(f"target {text!r}: option {key!r} given twice")
            opts[key] = value
        if kind is TargetKind.OPENCL:
            dev = opts.get("-device")
            for key in ("-device", "-platform"):
                if key in opts and opts[key][0] in "-+":
                    raise ValueError(f"target {text!r}: {key} must be a device index (0, 1, ...) or a word of the "
                                     f"{key[1:]}'s name, got {opts[key]!r}")
            index = int(dev) if dev is not None and dev.isdigit() else None
            return Target(kind, device=index, device_name=dev if index is None else None,
                          platform=opts.get("-platform"))
        mattr: tuple[str, ...] = ()
        if "-mattr" in opts:
            mattr = tuple(opts["-mattr"].split(","))
            for a in mattr:
                if len(a) < 2 or a[0] not in "+-":
                    raise ValueError(
                        f"target {text!r}: -mattr feature {a!r} must start with + or -, as in +avx2"
                    )
        return Target(kind, mcpu=opts.get("-mcpu"), mattr=mattr, mtriple=opts.get("-mtriple"))

    def __str__(self) -> str:
        parts = [self.kind.value]
        if self.mtriple is not None:
            parts.append(f"-mtriple={self.mtriple}")
        if self.mcpu is not None:
            parts.append(f"-mcpu={self.mcpu}")
        if self.mattr:
            parts.append(f"-mattr={','.join(self.mattr)}")
        if self.platform is not None:
            parts.append(f"-platform={self.platform}")
        if self.device is not None or self.device_name is not None:
            parts.append(f"-device={self.device if self.device is not None else self.device_name}")
        return " ".join(parts)

    @property
    def is_host(self) -> bool:
        """An LLVM target that compiles for exactly this machine's CPU and features."""
        return self.kind is TargetKind.LLVM and self.mcpu is None and not self.mattr and self.mtriple is None

    def llvm_cpu(self) -> str:
        """The CPU name LLVM compiles for: -mcpu, else the host's, else 'generic' when only -mattr is given."""
        if self.mcpu is not None:
            return self.mcpu
        return "generic" if self.mattr else host_cpu_name()

    def llvm_features(self) -> str:
        """LLVM's feature string: -mattr, or every host feature for plain "llvm"."""
        if self.mattr:
            return ",".join(self.mattr)
        return host_features_string() if self.mcpu is None else ""

    def llvm_triple(self) -> str:
        if self.mtriple is not None:
            return self.mtriple
        import llvmlite.binding as llvm

        return str(llvm.get_process_triple())

    def fingerprint(self) -> dict[str, object]:
        """What makes a tuning record valid for this target: CPU, features, compiler version; for OpenCL the
        platform, device and driver it resolves to (not its index: index 0 differs between machines)."""
        if self.kind is TargetKind.OPENCL:
            from tex.targets.opencl.runtime import device_fingerprint

            return device_fingerprint(self)
        import llvmlite
        import llvmlite.binding as llvm

        return {
            "kind": self.kind.value,
            "cpu": self.llvm_cpu(),
            "features": self.llvm_features(),
            "llvm": ".".join(map(str, llvm.llvm_version_info)),
            "llvmlite": llvmlite.__version__,
        }


def as_target(target: str | Target) -> Target:
    """A Target from a string or a Target."""
    return target if isinstance(target, Target) else Target.parse(target)


@cache
def host_cpu_name() -> str:
    import llvmlite.binding as llvm

    return str(llvm.get_host_cpu_name())


@cache
def host_features() -> frozenset[str]:
    """The host CPU features LLVM reports as present, e.g. {'avx2', 'fma', 'avx512f', ...}."""
    import llvmlite.binding as llvm

    try:
        feats = llvm.get_host_cpu_features()
    except RuntimeError:
        return frozenset()
    return frozenset(k for k, v in feats.items() if v)


@cache
def host_features_string() -> str:
    import llvmlite.binding as llvm

    try:
        return str(llvm.get_host_cpu_features().flatten())
    except RuntimeError:
        return ""
