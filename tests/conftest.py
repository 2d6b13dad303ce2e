"""Suite-wide settings. Tests sign up hundreds of users from 127.0.0.1, one node per test: the
per-address sign-up limit (20 an hour by default) is raised for them. Tests of that limit set
their own."""

from __future__ import annotations

import os

os.environ.setdefault("HUBBUB_SIGN_UPS_PER_ADDRESS", "1000000")
