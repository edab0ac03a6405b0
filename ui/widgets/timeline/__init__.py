"""The timeline: ruler, video thumbnails, analysis envelope and markers, one lane per track."""
