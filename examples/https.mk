# The HTTPS example server (issue 5): rules come with it.
