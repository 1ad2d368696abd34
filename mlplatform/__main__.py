"""`python -m mlplatform ...`, the same as the `mlp` command: preview, diff, endpoints, promote, traffic, schema."""

from mlplatform.cli import command

if __name__ == "__main__":
    command()
