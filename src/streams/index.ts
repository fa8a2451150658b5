// The public face of src/streams: named exports are added here as the module grows.
export {};
