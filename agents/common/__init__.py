"""What every learner shares (each module imports nothing else of ``agents``):

===================  =========================================================================
``base``             ``Transition`` (what the loop hands ``Agent.observe``) and the helpers that
                     call an agent's optional hooks (``begin_episode``, ``attach_run``)
``device``           the one resolver of a config's ``device`` (``auto``, ``cpu``, ``cuda``)
``networks``         small builders: ``mlp``, the DrQ-v2 ``trunk``, ``orthogonal_init``
``normalizer``       the running observation normaliser
``polyak``           the one Polyak / EMA helper (targets of critics, actors, auxiliary losses)
``checkpoint_file``  the checkpoint format and its safe reader (``load_checkpoint``)
===================  =========================================================================

Importing the package imports nothing.
"""
