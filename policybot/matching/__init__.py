"""Reading a resident's message: normalisation, the safety net, vocabulary, typos, the index
and the matcher. Depends on the domain values in `policybot.model` only."""
