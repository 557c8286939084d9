ln -s f link
ln -s d dirlink
