"""Compiled kernels (Cython), built at install when a C compiler is there; see ``kernels_cy.pyi`` for the API."""
