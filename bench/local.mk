# The benchmark (issue 6): rules come with it.
