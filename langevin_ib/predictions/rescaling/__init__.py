"""Full conditionals of rescaling models: strengths on level sets of χ, over the fibre, balance ratios."""
