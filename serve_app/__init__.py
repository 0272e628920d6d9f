"""The Ray Serve application: builder, ingress and HTTP schemas."""
