"""The demo behind `bash scripts/demo.sh` (placeholder until the GEMM demo lands)."""


def main() -> None:
    print("demo: coming")


if __name__ == "__main__":
    main()
