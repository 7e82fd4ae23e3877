"""Speech recognition for the phrases a menu offers: a small backend interface
(:mod:`engine.speech.recognizer`), pocketsphinx and Vosk backends, grammars built from
a node's phrases, spoken-digit normalisation, and the bounded pool they run in."""
