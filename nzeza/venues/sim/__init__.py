"""Local exchange servers on 127.0.0.1 speaking real venue APIs (tests, demos, paper runs)."""
