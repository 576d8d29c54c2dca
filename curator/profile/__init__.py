"""The profile library: LLM-written item and user profiles (RLMRec style), below `curator profile` and
`curator profile-merge` (curator.stages).

- config.py: the options of a run, the stages (items, then users) and where their profiles are stored;
- selection.py: which users and items are profiled, and each user's training history;
- tasks.py: the data each profile's prompt shows;
- answers.py: the answer's schema, how it is decoded and judged, and the profiles table's schema;
- chunks.py: one chunk of profiles: generation, validation, retries, embedding;
- profiling.py: a run: the plan of chunks per stage, kept with the finished chunks in the work folder;
- output.py: the output dataset folder, and the merge of a sharded run's outputs.
"""
