"""Make a video from a script: scenes, narration timing, title-card visuals and the scene clips.

Nothing here knows about jobs or rows: `jobs/generate.py` runs these steps and announces each scene."""
