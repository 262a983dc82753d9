"""Product catalog: the category tree, products with their options and SKUs, and prices."""
