"""ANB web tier: the Starlette HTTP API over the anb_pipeline framework (SPEC section 2)."""
