"""Host-side tools: meterctl, the simulated meter's front panel and the HIL harness."""
