"""Running the stack on one machine as it runs on AWS: release, drain, scale."""
