"""Pure, Docker-exact ports of BuildKit and moby code; each module names its upstream file."""
