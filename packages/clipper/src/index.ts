// Public API of @geoml/clipper. Every public name is listed here; files not named stay internal.

export {};
