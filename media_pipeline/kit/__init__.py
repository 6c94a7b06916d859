"""The publishing kit of a video: chapters, title and description suggestions, thumbnails and covers."""
