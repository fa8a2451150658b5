// The public face of src/util: named exports are added here as the module grows.
export {};
