# Core TAP tests: rules come with them.
