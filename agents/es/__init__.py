"""Evolution strategies (OpenAI-ES, antithetic pairs, centred ranks), registered as agent ``es``:

==========  ==========================================================================
``agent``   ``ESAgent``, ``es_gradient``, ``centred_ranks`` and its actors (kind
            ``es.actor``: ``ncap``, ``mlp``)
``config``  ``ESConfig``, ``ESMLPActorConfig`` and the registrations (torch-free)
==========  ==========================================================================

Importing the package imports nothing.
"""
